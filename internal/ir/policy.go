package ir

import (
	"strconv"
	"strings"
	"time"
)

// DestinationPolicy is one DestinationRule as it applies to one service.
type DestinationPolicy struct {
	Source    ConfigRef  `json:"source,omitempty"`
	Namespace string     `json:"namespace,omitempty"`
	ExportTo  Visibility `json:"exportTo,omitempty"`
	// WorkloadSelector narrows the clients the rule applies to (nil: all).
	WorkloadSelector map[string]string `json:"workloadSelector,omitempty"`
	Policy           *TrafficPolicy    `json:"policy,omitempty"`
	// Subsets sorted by name; EffectivePolicy merges a subset's policy over Policy.
	Subsets []*Subset `json:"subsets,omitempty"`
}

// Subset is a named, label-selected part of a service's endpoints.
type Subset struct {
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Policy *TrafficPolicy    `json:"policy,omitempty"`
}

// TrafficPolicy shapes traffic to a cluster.
type TrafficPolicy struct {
	LoadBalancer     *LoadBalancer     `json:"loadBalancer,omitempty"`
	ConnectionPool   *ConnectionPool   `json:"connectionPool,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	TLS              *ClientTLS        `json:"tls,omitempty"`
	// PortLevel overrides the fields it sets, per service port; sorted by port.
	PortLevel []*PortPolicy `json:"portLevel,omitempty"`
}

// PortPolicy is a traffic policy for one port.
type PortPolicy struct {
	Port   uint32         `json:"port,omitempty"`
	Policy *TrafficPolicy `json:"policy,omitempty"`
}

// LoadBalancer picks endpoints.
type LoadBalancer struct {
	// Simple: ROUND_ROBIN, LEAST_REQUEST, RANDOM, PASSTHROUGH ("" = Istio's default,
	// LEAST_REQUEST).
	Simple         string          `json:"simple,omitempty"`
	ConsistentHash *ConsistentHash `json:"consistentHash,omitempty"`
	Locality       *LocalityLB     `json:"locality,omitempty"`
	Warmup         *time.Duration  `json:"warmup,omitempty"`
}

// ConsistentHash hashes a request attribute to pick an endpoint (ring hash or maglev).
type ConsistentHash struct {
	Header     string      `json:"header,omitempty"`
	Cookie     *HashCookie `json:"cookie,omitempty"`
	SourceIP   bool        `json:"sourceIP,omitempty"`
	QueryParam string      `json:"queryParam,omitempty"`
	// Maglev selects Maglev; otherwise a ring hash.
	Maglev          bool   `json:"maglev,omitempty"`
	MaglevTableSize uint64 `json:"maglevTableSize,omitempty"`
	MinRingSize     uint64 `json:"minRingSize,omitempty"`
}

// HashCookie hashes on a cookie, generating it with TTL when absent.
type HashCookie struct {
	Name string         `json:"name,omitempty"`
	Path string         `json:"path,omitempty"`
	TTL  *time.Duration `json:"ttl,omitempty"`
}

// LocalityLB is localityLbSetting.
type LocalityLB struct {
	Distribute []LocalityDistribute `json:"distribute,omitempty"`
	Failover   []LocalityFailover   `json:"failover,omitempty"`
	// FailoverPriority lists labels whose match with the client orders priorities.
	FailoverPriority []string `json:"failoverPriority,omitempty"`
	Enabled          *bool    `json:"enabled,omitempty"`
}

// LocalityDistribute sends traffic from a locality to others by weight.
type LocalityDistribute struct {
	From string      `json:"from,omitempty"`
	To   []KeyWeight `json:"to,omitempty"`
}

// KeyWeight is a locality and its weight.
type KeyWeight struct {
	Key    string `json:"key,omitempty"`
	Weight uint32 `json:"weight,omitempty"`
}

// LocalityFailover names the region traffic fails over to.
type LocalityFailover struct{ From, To string }

// ConnectionPool limits connections and requests (Envoy circuit breakers).
type ConnectionPool struct {
	MaxConnections           *uint32        `json:"maxConnections,omitempty"`
	ConnectTimeout           *time.Duration `json:"connectTimeout,omitempty"`
	MaxPendingRequests       *uint32        `json:"maxPendingRequests,omitempty"`
	MaxRequests              *uint32        `json:"maxRequests,omitempty"`
	MaxRequestsPerConnection *uint32        `json:"maxRequestsPerConnection,omitempty"`
	MaxRetries               *uint32        `json:"maxRetries,omitempty"`
	IdleTimeout              *time.Duration `json:"idleTimeout,omitempty"`
	MaxConcurrentStreams     *uint32        `json:"maxConcurrentStreams,omitempty"`
	H2Upgrade                string         `json:"h2Upgrade,omitempty"`
}

// OutlierDetection ejects failing endpoints.
type OutlierDetection struct {
	Consecutive5xx              *uint32        `json:"consecutive5xx,omitempty"`
	ConsecutiveGatewayErrors    *uint32        `json:"consecutiveGatewayErrors,omitempty"`
	ConsecutiveLocalOriginFails *uint32        `json:"consecutiveLocalOriginFails,omitempty"`
	SplitLocalOrigin            bool           `json:"splitLocalOrigin,omitempty"`
	Interval                    *time.Duration `json:"interval,omitempty"`
	BaseEjectionTime            *time.Duration `json:"baseEjectionTime,omitempty"`
	MaxEjectionPercent          *uint32        `json:"maxEjectionPercent,omitempty"`
	MinHealthPercent            *uint32        `json:"minHealthPercent,omitempty"`
}

// ClientTLS is how the client side talks TLS to the cluster.
type ClientTLS struct {
	// Mode: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL.
	Mode               string   `json:"mode,omitempty"`
	ClientCertificate  string   `json:"clientCertificate,omitempty"`
	PrivateKey         string   `json:"privateKey,omitempty"`
	CACertificates     string   `json:"caCertificates,omitempty"`
	CredentialName     string   `json:"credentialName,omitempty"`
	SubjectAltNames    []string `json:"subjectAltNames,omitempty"`
	SNI                string   `json:"sni,omitempty"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify,omitempty"`
}

// ClusterName is Istio's outbound cluster name.
func ClusterName(port uint32, subset, host string) string {
	return "outbound|" + strconv.FormatUint(uint64(port), 10) + "|" + subset + "|" + host
}

// ClusterHost is the hostname of an outbound cluster name (ClusterName's host).
func ClusterHost(cluster string) string { return cluster[strings.LastIndexByte(cluster, '|')+1:] }

// SelectPolicy picks the DestinationRule a client in clientNS with the given labels uses
// for this service, as Istio does: in the client's namespace, a rule whose
// workloadSelector selects the client, else one without a selector; else one in the
// service's namespace, else one in the root namespace (rules with a workloadSelector
// apply only inside their own namespace); among equals the oldest. Nil when none applies.
func (s *Service) SelectPolicy(clientNS, rootNS string, labels map[string]string) *DestinationPolicy {
	for _, p := range s.Policies {
		if p.Namespace == clientNS && p.WorkloadSelector != nil && Selects(p.WorkloadSelector, labels) && p.ExportTo.VisibleTo(clientNS) {
			return p
		}
	}
	for _, ns := range []string{clientNS, s.Namespace, rootNS} {
		for _, p := range s.Policies {
			if p.Namespace == ns && p.WorkloadSelector == nil && p.ExportTo.VisibleTo(clientNS) {
				return p
			}
		}
	}
	return nil
}

// EffectivePolicy is the traffic policy of the cluster for port and subset ("" for the
// whole service), as Istio merges it: the rule's policy with its port-level settings for
// the port, overridden field by field by the subset's, with the subset's port-level
// settings for the port.
func (p *DestinationPolicy) EffectivePolicy(port uint32, subset string) *TrafficPolicy {
	if p == nil {
		return nil
	}
	eff := p.Policy.ForPort(port)
	if s := p.Subset(subset); s != nil {
		eff = Merge(eff, s.Policy.ForPort(port))
	}
	return eff
}

// Subset returns the named subset, or nil.
func (p *DestinationPolicy) Subset(name string) *Subset {
	if p == nil {
		return nil
	}
	for _, s := range p.Subsets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ForPort returns the policy with port-level settings for port merged over it: each
// field a port-level entry sets replaces the field it overrides.
func (t *TrafficPolicy) ForPort(port uint32) *TrafficPolicy {
	if t == nil {
		return nil
	}
	if len(t.PortLevel) == 0 {
		return t // nothing to merge; policies are not modified once translated
	}
	out := *t
	out.PortLevel = nil
	for _, pl := range t.PortLevel {
		if pl.Port == port && pl.Policy != nil {
			out = *Merge(&out, pl.Policy)
		}
	}
	return &out
}

// Merge returns base with every field that over sets replaced, field by field, as a
// subset's policy overrides its DestinationRule's.
func Merge(base, over *TrafficPolicy) *TrafficPolicy {
	switch {
	case base == nil && over == nil:
		return nil
	case base == nil:
		c := *over
		return &c
	case over == nil:
		c := *base
		return &c
	}
	out := *base
	if over.LoadBalancer != nil {
		out.LoadBalancer = over.LoadBalancer
	}
	if over.ConnectionPool != nil {
		out.ConnectionPool = over.ConnectionPool
	}
	if over.OutlierDetection != nil {
		out.OutlierDetection = over.OutlierDetection
	}
	if over.TLS != nil {
		out.TLS = over.TLS
	}
	if over.PortLevel != nil {
		out.PortLevel = over.PortLevel
	}
	return &out
}

// LocalityAware reports whether the endpoints of a cluster with this policy depend on
// where the client is: locality distribution, or failover, which Istio applies when
// outlier detection is on and localityLbSetting does not turn it off.
func (t *TrafficPolicy) LocalityAware() bool {
	if t == nil {
		return false
	}
	var lb *LocalityLB
	if t.LoadBalancer != nil {
		lb = t.LoadBalancer.Locality
	}
	if lb != nil && lb.Enabled != nil && !*lb.Enabled {
		return false
	}
	return t.OutlierDetection != nil || (lb != nil && len(lb.Distribute) > 0)
}
