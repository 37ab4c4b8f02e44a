package ir

import "time"

// Workload-side security: what the server side of a connection enforces. Policies are
// selected per workload (namespace and labels), so their selectors join the client
// selectors of the IR: a sidecar's inbound config is part of its scope.

// Istio's mTLS modes; "" is UNSET (inherit).
const (
	MTLSStrict     = "STRICT"
	MTLSPermissive = "PERMISSIVE"
	MTLSDisable    = "DISABLE"
)

// PeerAuthn is one PeerAuthentication.
type PeerAuthn struct {
	Source    ConfigRef `json:"source,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	// Selector nil: every workload of the namespace (of the mesh in the root namespace).
	Selector map[string]string `json:"selector,omitempty"`
	// SelectorKey is SelectorKey(Selector), worked out once with the policy: every
	// translation gathers the keys of all selectors (ClientSelectors).
	SelectorKey string `json:"-"`
	// Mode is STRICT, PERMISSIVE, DISABLE or "" (inherit).
	Mode string `json:"mode,omitempty"`
	// PortModes override Mode per workload (container) port.
	PortModes map[uint32]string `json:"portModes,omitempty"`
}

// AuthzPolicy is one AuthorizationPolicy.
type AuthzPolicy struct {
	Source    ConfigRef         `json:"source,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Selector  map[string]string `json:"selector,omitempty"`
	// SelectorKey is SelectorKey(Selector) (see PeerAuthn).
	SelectorKey string `json:"-"`
	// Action is ALLOW, DENY, AUDIT or CUSTOM; Provider names CUSTOM's ext_authz.
	Action   string `json:"action,omitempty"`
	Provider string `json:"provider,omitempty"`
	// DryRun (istio.io/dry-run) makes the rules shadow rules: logged, not enforced.
	DryRun bool `json:"dryRun,omitempty"`
	// Rules are ORed. None at all (spec {}) matches nothing; an empty rule matches
	// everything.
	Rules []*AuthzRule `json:"rules,omitempty"`
	// TargetRefs bind the policy to Gateways (by name, in its namespace), to every
	// Gateway of a GatewayClass (from the root namespace), or to Services (their
	// waypoint), instead of selecting workloads by labels.
	TargetRefs []PolicyTarget `json:"targetRefs,omitempty"`
}

// PolicyTarget is one targetRef: Gateway, GatewayClass or Service, by name.
type PolicyTarget struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
}

// AppliesToProxy reports whether the policy governs a proxy in namespace ns with the
// given labels; gateway and class name the Gateway (and its GatewayClass) a gateway
// proxy serves, empty for workloads. Policies without targetRefs select by labels, as
// for any workload (gateway pods included); policies with targetRefs apply only to
// what they target.
func (p *AuthzPolicy) AppliesToProxy(rootNS, ns string, labels map[string]string, gateway, class string) bool {
	if len(p.TargetRefs) == 0 {
		return AppliesTo(p.Namespace, p.Selector, rootNS, ns, labels)
	}
	for _, t := range p.TargetRefs {
		switch {
		case gateway == "":
		case t.Kind == "Gateway" && t.Name == gateway && p.Namespace == ns:
			return true
		case t.Kind == "GatewayClass" && t.Name == class && p.Namespace == rootNS:
			return true
		}
	}
	return false
}

// AppliesAtWaypoint reports whether the waypoint ns/waypoint enforces the policy for
// svc, one of the services it serves: policies bind to a waypoint only by targetRefs,
// to its Gateway (from its namespace), to its class (from the root namespace) or to
// the Service (from the Service's namespace); svc nil is traffic addressed to a pod,
// which only the first two govern. Selector policies are the workloads'.
func (p *AuthzPolicy) AppliesAtWaypoint(rootNS, ns, waypoint string, svc *Service) bool {
	for _, t := range p.TargetRefs {
		switch {
		case t.Kind == "Gateway" && t.Name == waypoint && p.Namespace == ns:
			return true
		case t.Kind == "GatewayClass" && t.Name == ClassWaypoint && p.Namespace == rootNS:
			return true
		case t.Kind == "Service" && svc != nil && p.Namespace == svc.Namespace && t.Name == svc.Name():
			return true
		}
	}
	return false
}

// ClassWaypoint is the GatewayClass of ambient waypoints.
const ClassWaypoint = "istio-waypoint"

// AuthzRule matches when any From, any To and every When hold (absent lists hold).
type AuthzRule struct {
	From []*AuthzSource    `json:"from,omitempty"`
	To   []*AuthzOperation `json:"to,omitempty"`
	When []*AuthzCondition `json:"when,omitempty"`
}

// AuthzSource is a rule's source; fields are ANDed, values within a field ORed.
// Service accounts are already principals here (trust-domain/ns/<ns>/sa/<sa>).
type AuthzSource struct {
	Principals           []string `json:"principals,omitempty"`
	NotPrincipals        []string `json:"notPrincipals,omitempty"`
	RequestPrincipals    []string `json:"requestPrincipals,omitempty"`
	NotRequestPrincipals []string `json:"notRequestPrincipals,omitempty"`
	Namespaces           []string `json:"namespaces,omitempty"`
	NotNamespaces        []string `json:"notNamespaces,omitempty"`
	IPBlocks             []string `json:"ipBlocks,omitempty"`
	NotIPBlocks          []string `json:"notIpBlocks,omitempty"`
	RemoteIPBlocks       []string `json:"remoteIpBlocks,omitempty"`
	NotRemoteIPBlocks    []string `json:"notRemoteIpBlocks,omitempty"`
}

// AuthzOperation is a rule's operation; fields ANDed, values ORed.
type AuthzOperation struct {
	Hosts      []string `json:"hosts,omitempty"`
	NotHosts   []string `json:"notHosts,omitempty"`
	Ports      []string `json:"ports,omitempty"`
	NotPorts   []string `json:"notPorts,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	NotMethods []string `json:"notMethods,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	NotPaths   []string `json:"notPaths,omitempty"`
}

// AuthzCondition is a `when` condition on one of Istio's attribute keys.
type AuthzCondition struct {
	Key       string   `json:"key,omitempty"`
	Values    []string `json:"values,omitempty"`
	NotValues []string `json:"notValues,omitempty"`
}

// AppliesTo reports whether a policy of namespace ns with selector sel applies to a
// workload of workloadNS with labels: policies in the root namespace apply mesh-wide.
func AppliesTo(ns string, sel map[string]string, rootNS, workloadNS string, labels map[string]string) bool {
	return (ns == workloadNS || ns == rootNS) && Selects(sel, labels)
}

// AuthzProvider is an ext_authz provider from the Mesh's extensionProviders, for
// CUSTOM AuthorizationPolicies.
type AuthzProvider struct {
	Name string `json:"name,omitempty"`
	// GRPC selects Envoy's gRPC ext_authz protocol; otherwise HTTP.
	GRPC bool `json:"grpc,omitempty"`
	// Cluster is the outbound cluster of the provider's service port.
	Cluster  string         `json:"cluster,omitempty"`
	Host     string         `json:"host,omitempty"`
	Port     uint32         `json:"port,omitempty"`
	Timeout  *time.Duration `json:"timeout,omitempty"`
	FailOpen bool           `json:"failOpen,omitempty"`
	// HTTP only.
	PathPrefix                   string   `json:"pathPrefix,omitempty"`
	IncludeRequestHeadersInCheck []string `json:"includeRequestHeadersInCheck,omitempty"`
	HeadersToUpstreamOnAllow     []string `json:"headersToUpstreamOnAllow,omitempty"`
	HeadersToDownstreamOnDeny    []string `json:"headersToDownstreamOnDeny,omitempty"`
}
