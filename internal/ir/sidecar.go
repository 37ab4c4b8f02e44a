package ir

import "strings"

// Sidecar is one Istio Sidecar: which part of the mesh the sidecars it applies to are
// configured to reach. Istio recommends one per namespace at scale, since without one
// every sidecar carries every service of the mesh and gets every change.
type Sidecar struct {
	Source    ConfigRef `json:"source,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	// Selector nil: every workload of the namespace (in the root namespace, of every
	// namespace that has no Sidecar of its own).
	Selector    map[string]string `json:"selector,omitempty"`
	SelectorKey string            `json:"-"`
	// Egress are the egress listeners: those with a port first, by port, then the
	// catch-all one (Port 0) and the Unix domain socket ones (Socket set) in the
	// Sidecar's order. A service port none covers is not reachable.
	Egress []*EgressListener `json:"egress,omitempty"`
	// OutboundPolicy is outboundTrafficPolicy's mode: REGISTRY_ONLY blocks
	// destinations outside the sidecar's registry, ALLOW_ANY passes them through, ""
	// leaves it to the mesh (IR.RegistryOnly).
	OutboundPolicy string `json:"outboundPolicy,omitempty"`
	// Ingress are the ingress listeners, by port: where the traffic the workload
	// receives on each port goes, and how it is taken.
	Ingress []*IngressListener `json:"ingress,omitempty"`
	// EgressProxy, when set (with ALLOW_ANY), takes the traffic for unknown
	// destinations instead of passing it through.
	EgressProxy *EgressProxy `json:"egressProxy,omitempty"`
	// InboundPool limits what the workload takes on ports without a pool of their own
	// (inboundConnectionPool).
	InboundPool *ConnectionPool `json:"inboundPool,omitempty"`
	// Key is the translated Sidecar written out, the same for equal Sidecars: config
	// rendered under a Sidecar is reused only while its Key is unchanged.
	Key string `json:"-"`
}

// EgressProxy is the service port (and subset) unknown traffic is sent to.
type EgressProxy struct {
	Host   string `json:"host,omitempty"`
	Port   uint32 `json:"port,omitempty"`
	Subset string `json:"subset,omitempty"`
}

// Cluster is the egress proxy's cluster name.
func (p *EgressProxy) Cluster() string { return ClusterName(p.Port, p.Subset, p.Host) }

// IngressListener is one ingress listener of a Sidecar.
type IngressListener struct {
	Port uint32 `json:"port,omitempty"`
	// Protocol is the port's protocol, upper case (HTTP, HTTP2, GRPC, HTTPS, TLS,
	// TCP...): it decides whether the traffic is taken as HTTP or as a stream.
	Protocol string `json:"protocol,omitempty"`
	// DefaultEndpoint is where the traffic goes: "" the address it was sent to,
	// 127.0.0.1:<port> or [::1]:<port> the loopback, 0.0.0.0:<port> or [::]:<port>
	// the workload's own address on that port, unix://<path> a Unix domain socket.
	DefaultEndpoint string `json:"defaultEndpoint,omitempty"`
	// TLS terminates TLS from outside the mesh with the given files, instead of the
	// mesh's mTLS.
	TLS *ServerTLS `json:"tls,omitempty"`
	// Pool limits what the port takes (else the Sidecar's InboundPool).
	Pool *ConnectionPool `json:"pool,omitempty"`
	// Bind, when set (captureMode NONE), is the address an Envoy listener of its own
	// binds with the port: the traffic is not captured, the client dials it.
	Bind string `json:"bind,omitempty"`
}

// ServerTLS is a listener's own TLS, from files on the proxy.
type ServerTLS struct {
	// Mode is SIMPLE, MUTUAL, OPTIONAL_MUTUAL or PASSTHROUGH (not terminated).
	Mode              string   `json:"mode,omitempty"`
	ServerCertificate string   `json:"serverCertificate,omitempty"`
	PrivateKey        string   `json:"privateKey,omitempty"`
	CaCertificates    string   `json:"caCertificates,omitempty"`
	CaCrl             string   `json:"caCrl,omitempty"`
	VerifySPKI        []string `json:"verifySpki,omitempty"`
	VerifyHash        []string `json:"verifyHash,omitempty"`
	MinVersion        string   `json:"minVersion,omitempty"`
	MaxVersion        string   `json:"maxVersion,omitempty"`
	CipherSuites      []string `json:"cipherSuites,omitempty"`
}

// EgressListener is one egress listener: the hosts its port (0: every port no other
// listener names) reaches.
type EgressListener struct {
	Port uint32 `json:"port,omitempty"`
	// Protocol is the port's protocol as the Sidecar declares it (upper case): the
	// listener takes the port's traffic as HTTP or as streams by it, whatever the
	// services' own ports say.
	Protocol string `json:"protocol,omitempty"`
	// Bind, when set, gives the listener an Envoy listener of its own at Bind:Port,
	// which binds the address itself when Bound (captureMode NONE: the application
	// dials it) and otherwise takes the traffic captured for that address.
	Bind  string `json:"bind,omitempty"`
	Bound bool   `json:"bound,omitempty"`
	// Socket, when set, is the Unix domain socket (unix://<path>, or unix://@<name>
	// in the abstract namespace) the listener binds instead of a port: it takes every
	// port of the services its hosts import, and is no port's listener (Port is 0).
	Socket string       `json:"socket,omitempty"`
	Hosts  []EgressHost `json:"hosts,omitempty"`
}

// EgressHost is one "namespace/dnsName" entry of an egress listener. Namespace is "*"
// (any), "." (the client's own, which for a root-namespace Sidecar is the namespace it
// is applied to), "~" (none) or a name; Host is an FQDN, "*" or "*.suffix".
type EgressHost struct {
	Namespace string `json:"namespace,omitempty"`
	Host      string `json:"host,omitempty"`
}

// SidecarFor is the Sidecar that applies to a workload in namespace ns with labels,
// by Istio's precedence: the oldest of its namespace's Sidecars whose selector
// matches it, else its namespace's Sidecar without selector, else the root
// namespace's; nil when none does (the workload sees the whole mesh).
func (in *IR) SidecarFor(ns string, labels map[string]string) *Sidecar {
	var nsDefault, rootDefault *Sidecar
	for _, sc := range in.Sidecars { // oldest first
		switch {
		case sc.Namespace == ns && sc.Selector != nil:
			if Selects(sc.Selector, labels) {
				return sc
			}
		case sc.Namespace == ns:
			if nsDefault == nil {
				nsDefault = sc
			}
		case sc.Namespace == in.RootNamespace && sc.Selector == nil:
			if rootDefault == nil {
				rootDefault = sc
			}
		}
	}
	if nsDefault != nil {
		return nsDefault
	}
	return rootDefault
}

// Listeners are the egress listener naming a port and the catch-all one, each nil
// when the Sidecar has none.
func (sc *Sidecar) Listeners(port uint32) (dedicated, catchAll *EgressListener) {
	for _, l := range sc.Egress {
		if l.Socket != "" {
			continue // a Unix domain socket's: no port's
		}
		switch l.Port {
		case port:
			dedicated = l
		case 0:
			catchAll = l
		}
	}
	return dedicated, catchAll
}

// MayNeed reports whether sidecars of a client in namespace clientNS may need a
// service (host, of namespace hostNS) under the Sidecar whatever routes to it: some
// egress listener imports it on some port, or it is the egress proxy.
func (sc *Sidecar) MayNeed(clientNS, hostNS, host string) bool {
	if sc.EgressProxy != nil && sc.EgressProxy.Host == host {
		return true
	}
	for _, l := range sc.Egress {
		if l.Imports(clientNS, hostNS, host) {
			return true
		}
	}
	return false
}

// Imports reports whether the listener reaches host in namespace hostNS, for a client
// in namespace clientNS.
func (l *EgressListener) Imports(clientNS, hostNS, host string) bool {
	for _, h := range l.Hosts {
		switch h.Namespace {
		case "~":
			continue
		case "*":
		case ".":
			if hostNS != clientNS {
				continue
			}
		default:
			if hostNS != h.Namespace {
				continue
			}
		}
		if HostMatches(h.Host, host) {
			return true
		}
	}
	return false
}

// HostMatches reports whether a host (no wildcard) is one a pattern ("*", "*.suffix"
// or a name) names.
func HostMatches(pattern, host string) bool {
	if strings.HasPrefix(pattern, "*") {
		return strings.HasSuffix(host, pattern[1:])
	}
	return pattern == host
}
