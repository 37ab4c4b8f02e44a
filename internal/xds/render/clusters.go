package render

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
)

// Istio's defaults for outbound clusters.
const defaultConnectTimeout = 10 * time.Second

// ClusterSpec is one outbound cluster: a service port, optionally narrowed to a subset,
// and the traffic policy that applies to it.
type ClusterSpec struct {
	Name     string
	Hostname string
	Port     uint32
	Subset   string
	// Protocol is the service port's protocol (model.Protocol values).
	Protocol string
	Policy   *ir.TrafficPolicy
}

// What every EDS cluster carries alike, built once and shared: a mesh has thousands
// of clusters. Nothing modifies a rendered cluster's parts in place (a generator
// replaces them), so sharing them is safe.
var (
	clusterEDSSource      = ADSSource()
	clusterConnectTimeout = durationpb.New(defaultConnectTimeout)
	edsType               = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
	// Outlier detection's enforcement percentages: off, or every time.
	neverEnforce  = wrapperspb.UInt32(0)
	alwaysEnforce = wrapperspb.UInt32(100)
)

// clusterParts are the messages of every EDS cluster, allocated together.
type clusterParts struct {
	cluster clusterv3.Cluster
	eds     clusterv3.Cluster_EdsClusterConfig
}

// Cluster renders an EDS cluster with the traffic policy that applies to it.
func Cluster(spec ClusterSpec, f Flavor) *clusterv3.Cluster {
	p := new(clusterParts)
	p.eds.EdsConfig, p.eds.ServiceName = clusterEDSSource, spec.Name
	out := &p.cluster
	out.Name = spec.Name
	out.ClusterDiscoveryType = edsType
	out.EdsClusterConfig = &p.eds
	out.ConnectTimeout = clusterConnectTimeout
	out.LbPolicy = clusterv3.Cluster_LEAST_REQUEST // Istio's default balancer
	if p := spec.Policy; p != nil {
		loadBalancer(out, p.LoadBalancer, f)
		connectionPool(out, p.ConnectionPool, f)
		out.OutlierDetection = outlierDetection(p.OutlierDetection, f)
		if od := p.OutlierDetection; od != nil && od.MinHealthPercent != nil {
			// Istio maps minHealthPercent to the panic threshold: below it, ejection stops.
			out.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{
				HealthyPanicThreshold: &typev3.Percent{Value: float64(*od.MinHealthPercent)}}
		}
	}
	if f != Proxyless && distributes(spec.Policy) {
		// Envoy weighs localities only when told to (grpc-go always does).
		if out.CommonLbConfig == nil {
			out.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{}
		}
		out.CommonLbConfig.LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{}}
	}
	if f == Proxyless {
		proxylessMTLS(out, spec.Policy)
	}
	if f != Proxyless {
		upstreamProtocol(out, spec.Protocol, spec.Policy)
		upstreamTLS(out, spec, spec.Policy) // after the balancer: passthrough changes it
	}
	if f == Waypoint {
		tunnelUpstream(out, spec.Policy)
	}
	return out
}

func loadBalancer(c *clusterv3.Cluster, lb *ir.LoadBalancer, f Flavor) {
	if lb == nil {
		return
	}
	switch {
	case lb.Simple == "ROUND_ROBIN":
		c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	case lb.Simple == "RANDOM" && f != Proxyless:
		c.LbPolicy = clusterv3.Cluster_RANDOM
	case lb.Simple == "RANDOM":
		// grpc-go NACKs RANDOM (xdsresource/unmarshal_cds.go); round robin is nearest.
		c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	case lb.Simple == "PASSTHROUGH" && f != Proxyless:
		// Istio sends PASSTHROUGH traffic to the address the caller dialled.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		c.EdsClusterConfig = nil
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		// PASSTHROUGH means nothing without a proxy; proxyless keeps the default.
	}
	if h := lb.ConsistentHash; h != nil {
		if h.Maglev && f != Proxyless {
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			if h.MaglevTableSize > 0 {
				c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{
					TableSize: wrapperspb.UInt64(h.MaglevTableSize)}}
			}
		} else {
			// grpc-go has no Maglev: a ring hash is the nearest policy it has.
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			ring := &clusterv3.Cluster_RingHashLbConfig{}
			if h.MinRingSize > 0 {
				ring.MinimumRingSize = wrapperspb.UInt64(h.MinRingSize)
			}
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: ring}
		}
	}
	if lb.Warmup != nil {
		switch c.LbPolicy {
		case clusterv3.Cluster_ROUND_ROBIN:
			c.LbConfig = &clusterv3.Cluster_RoundRobinLbConfig_{RoundRobinLbConfig: &clusterv3.Cluster_RoundRobinLbConfig{
				SlowStartConfig: &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: durationpb.New(*lb.Warmup)}}}
		case clusterv3.Cluster_LEAST_REQUEST:
			c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{
				SlowStartConfig: &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: durationpb.New(*lb.Warmup)}}}
		}
	}
}

// circuitBreakers are a cluster's circuit breakers of the default priority, allocated
// together.
type circuitBreakers struct {
	breakers   clusterv3.CircuitBreakers
	list       [1]*clusterv3.CircuitBreakers_Thresholds
	thresholds clusterv3.CircuitBreakers_Thresholds
	limits     [4]wrapperspb.UInt32Value
}

func connectionPool(c *clusterv3.Cluster, cp *ir.ConnectionPool, f Flavor) {
	if cp == nil {
		return
	}
	if cp.ConnectTimeout != nil {
		c.ConnectTimeout = durationpb.New(*cp.ConnectTimeout)
	}
	cb := new(circuitBreakers)
	th := &cb.thresholds
	set := false
	for i, f := range [len(cb.limits)]struct {
		v   *uint32
		dst **wrapperspb.UInt32Value
	}{
		{cp.MaxConnections, &th.MaxConnections},
		{cp.MaxPendingRequests, &th.MaxPendingRequests},
		{cp.MaxRequests, &th.MaxRequests},
		{cp.MaxRetries, &th.MaxRetries},
	} {
		if f.v != nil {
			cb.limits[i].Value = *f.v
			*f.dst = &cb.limits[i]
			set = true
		}
	}
	if set {
		cb.list[0] = th
		cb.breakers.Thresholds = cb.list[:]
		c.CircuitBreakers = &cb.breakers
	}
	// Envoy reads these from the cluster's typed protocol options (upstreamProtocol).
	if f == Proxyless {
		c.CommonHttpProtocolOptions = commonHTTPOptions(cp)
	}
}

// commonHTTPOptions are the pool's per-connection limits, or nil when it sets none.
func commonHTTPOptions(cp *ir.ConnectionPool) *corev3.HttpProtocolOptions {
	if cp == nil || (cp.MaxRequestsPerConnection == nil && cp.IdleTimeout == nil) {
		return nil
	}
	opts := &corev3.HttpProtocolOptions{}
	if cp.MaxRequestsPerConnection != nil {
		opts.MaxRequestsPerConnection = wrapperspb.UInt32(*cp.MaxRequestsPerConnection)
	}
	if cp.IdleTimeout != nil {
		opts.IdleTimeout = durationpb.New(*cp.IdleTimeout)
	}
	return opts
}

// outlierDetection renders Istio's settings; Istio enforces only the failure kinds the
// user set, so the others get enforcement 0. grpc-go ignores every consecutive_* field
// (xdsresource/unmarshal_cds.go) and implements only failure-percentage and
// success-rate ejection, so the consecutive error count is also expressed as a
// failure-percentage rule: an endpoint that failed at least that many of its requests in
// an interval, and more than half of them, is ejected; one host is enough to judge.
func outlierDetection(od *ir.OutlierDetection, f Flavor) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	// The detection and its counts, allocated together.
	p := new(struct {
		out                  clusterv3.OutlierDetection
		consecutive, gateway wrapperspb.UInt32Value
	})
	out := &p.out
	out.EnforcingConsecutive_5Xx, out.EnforcingConsecutiveGatewayFailure = neverEnforce, neverEnforce
	out.EnforcingSuccessRate, out.EnforcingFailurePercentage = neverEnforce, neverEnforce
	out.SplitExternalLocalOriginErrors = od.SplitLocalOrigin
	if od.Consecutive5xx != nil {
		p.consecutive.Value = *od.Consecutive5xx
		out.Consecutive_5Xx = &p.consecutive
		if *od.Consecutive5xx > 0 {
			out.EnforcingConsecutive_5Xx = alwaysEnforce
		}
	}
	if od.ConsecutiveGatewayErrors != nil {
		p.gateway.Value = *od.ConsecutiveGatewayErrors
		out.ConsecutiveGatewayFailure = &p.gateway
		if *od.ConsecutiveGatewayErrors > 0 {
			out.EnforcingConsecutiveGatewayFailure = alwaysEnforce
		}
	}
	if od.ConsecutiveLocalOriginFails != nil {
		out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(*od.ConsecutiveLocalOriginFails)
		out.EnforcingConsecutiveLocalOriginFailure = alwaysEnforce
	}
	if volume := consecutiveErrors(od); volume > 0 && f == Proxyless {
		out.EnforcingFailurePercentage = alwaysEnforce
		out.FailurePercentageThreshold = wrapperspb.UInt32(50)
		out.FailurePercentageRequestVolume = wrapperspb.UInt32(volume)
		out.FailurePercentageMinimumHosts = wrapperspb.UInt32(1)
	}
	if od.Interval != nil {
		out.Interval = durationpb.New(*od.Interval)
	}
	if od.BaseEjectionTime != nil {
		out.BaseEjectionTime = durationpb.New(*od.BaseEjectionTime)
	}
	if od.MaxEjectionPercent != nil {
		out.MaxEjectionPercent = wrapperspb.UInt32(*od.MaxEjectionPercent)
	}
	return out
}

// consecutiveErrors is the smallest consecutive-failure count the policy sets (0: none).
func consecutiveErrors(od *ir.OutlierDetection) uint32 {
	var n uint32
	for _, v := range []*uint32{od.Consecutive5xx, od.ConsecutiveGatewayErrors} {
		if v != nil && *v > 0 && (n == 0 || *v < n) {
			n = *v
		}
	}
	return n
}

// ServiceClusters renders a service port's cluster and one cluster per subset of the
// DestinationRule the client uses, with the EDS input for each.
func ServiceClusters(svc *ir.Service, port *ir.Port, policy *ir.DestinationPolicy, f Flavor) ([]*clusterv3.Cluster, []EDSCluster) {
	spec := ClusterSpec{Name: ir.ClusterName(port.Number, "", svc.Hostname), Hostname: svc.Hostname, Port: port.Number,
		Protocol: port.Protocol, Policy: policy.EffectivePolicy(port.Number, "")}
	// The service port's own cluster, in slices allocated together: most ports have
	// no subsets, and the slices grow apart when they do.
	one := new(struct {
		clusters [1]*clusterv3.Cluster
		eds      [1]EDSCluster
	})
	one.clusters[0], one.eds[0] = Cluster(spec, f), edsCluster(spec, nil)
	clusters, eds := one.clusters[:], one.eds[:]
	if policy == nil {
		return clusters, eds
	}
	for _, ss := range policy.Subsets {
		spec := spec
		spec.Name, spec.Subset, spec.Policy = ir.ClusterName(port.Number, ss.Name, svc.Hostname), ss.Name, policy.EffectivePolicy(port.Number, ss.Name)
		clusters = append(clusters, Cluster(spec, f))
		eds = append(eds, edsCluster(spec, ss.Labels))
	}
	return clusters, eds
}

func edsCluster(spec ClusterSpec, labels map[string]string) EDSCluster {
	c := EDSCluster{Name: spec.Name, Hostname: spec.Hostname, Port: spec.Port, Labels: labels}
	if spec.Policy.LocalityAware() {
		if lb := spec.Policy.LoadBalancer; lb != nil {
			c.Locality = lb.Locality
		}
		c.Distribute = distributes(spec.Policy)
		c.Failover = !c.Distribute && spec.Policy.OutlierDetection != nil
	}
	return c
}

// distributes reports whether localities get weights from a distribute rule (which
// takes the place of failover).
func distributes(p *ir.TrafficPolicy) bool {
	return p.LocalityAware() && p.LoadBalancer != nil && p.LoadBalancer.Locality != nil && len(p.LoadBalancer.Locality.Distribute) > 0
}
