package render

import (
	"slices"
	"strconv"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"

	"github.com/meshd-io/meshd/internal/ir"
)

// RBACSet is the Envoy RBAC of one action for a workload: enforced rules and dry-run
// (shadow) rules, either may be nil.
type RBACSet struct {
	Action string // DENY, AUDIT, ALLOW (Istio's order)
	Rules  *RBACRules
	Shadow *RBACRules
}

// RBACRules is an Envoy RBAC (config.rbac.v3.RBAC): an action and the rules of the
// AuthorizationPolicies it enforces, one Envoy policy each. It is written to the wire
// when its filter is first packed (rbac_wire.go), and those bytes are kept: its fields
// are set before, and changed after only through WithAction and PeerFromFilterState.
type RBACRules struct {
	Action   rbacv3.RBAC_Action
	Policies []RBACPolicy // by name, the order of Envoy's map keys
	// TrustDomain makes source.serviceAccount conditions principals.
	TrustDomain string

	peerFromFilterState bool   // see PeerFromFilterState
	wire                []byte // what written wrote
}

// WithAction is a copy of r enforcing another action.
func (r *RBACRules) WithAction(a rbacv3.RBAC_Action) *RBACRules {
	c := *r
	c.Action, c.wire = a, nil
	return &c
}

// PeerFromFilterState makes r match the peer's identity in PeerPrincipalState rather
// than the TLS peer's: a waypoint's connections are internal, with no TLS peer of
// their own.
func (r *RBACRules) PeerFromFilterState() {
	r.peerFromFilterState, r.wire = true, nil
}

// RBACPolicy is one rule of an AuthorizationPolicy, by the name Istio gives it in
// Envoy's RBAC.
type RBACPolicy struct {
	Name string
	Rule *ir.AuthzRule
}

// Authz is a workload's authorization, for HTTP and for TCP connections.
type Authz struct {
	HTTP, TCP []RBACSet
	// Custom is the workload's CUSTOM (ext_authz) authorization, nil when none.
	Custom *CustomAuthz
}

// CustomAuthz sends requests that match a CUSTOM rule to the provider, as Istio does:
// an RBAC filter in shadow mode marks matching requests in dynamic metadata
// (CustomMetadataKey), and the ext_authz filter runs only for those.
type CustomAuthz struct {
	Provider  *ir.AuthzProvider
	HTTPRules *RBACRules
	TCPRules  *RBACRules // nil for an HTTP provider: TCP has no HTTP check
}

// CUSTOM rules' names and the metadata the shadow RBAC writes when one matches.
const (
	CustomPolicyPrefix = "istio-ext-authz-"
	CustomStatPrefix   = "istio_ext_authz_"
	CustomMetadataKey  = CustomStatPrefix + "shadow_effective_policy_id"
	RBACFilterName     = "envoy.filters.http.rbac"
	NetworkRBACFilter  = "envoy.filters.network.rbac"
)

// rbacActions are Istio's actions in evaluation order (CUSTOM comes first in Istio and
// needs an ext_authz provider; it is not rendered yet).
var rbacActions = []struct {
	name   string
	action rbacv3.RBAC_Action
}{
	{"DENY", rbacv3.RBAC_DENY},
	{"AUDIT", rbacv3.RBAC_LOG},
	{"ALLOW", rbacv3.RBAC_ALLOW},
}

// WorkloadAuthz renders the AuthorizationPolicies that apply to the scope's workload:
// those of the root namespace and of the workload's own, selected by labels. With no
// enforced ALLOW policy there is no ALLOW filter (allowed unless denied); with one,
// only what some ALLOW rule matches passes, and a policy without rules matches nothing.
func WorkloadAuthz(in *ir.IR, scope Scope) Authz {
	return authzOf(in, func(p *ir.AuthzPolicy) bool { return appliesTo(in, p, scope) })
}

// WaypointAuthz renders the AuthorizationPolicies a waypoint enforces for one of the
// services it serves: those targeting the waypoint (its Gateway, or its class from
// the root namespace) and those targeting the service.
func WaypointAuthz(in *ir.IR, scope Scope, svc *ir.Service) Authz {
	return authzOf(in, func(p *ir.AuthzPolicy) bool {
		return p.AppliesAtWaypoint(in.RootNamespace, scope.Namespace, scope.Gateway, svc)
	})
}

// authzOf renders the policies applies selects.
func authzOf(in *ir.IR, applies func(*ir.AuthzPolicy) bool) Authz {
	var out Authz
	custom, failClosed := customPolicies(in, applies)
	if len(custom) > 0 {
		provider := providerNamed(in, custom[0].Provider)
		out.Custom = &CustomAuthz{Provider: provider,
			HTTPRules: rbacRulesNamed(rbacv3.RBAC_ALLOW, custom, in.TrustDomain, false, CustomPolicyPrefix)}
		if provider.GRPC {
			out.Custom.TCPRules = rbacRulesNamed(rbacv3.RBAC_ALLOW, custom, in.TrustDomain, true, CustomPolicyPrefix)
		}
	}
	for _, a := range rbacActions {
		var enforced, dryRun []*ir.AuthzPolicy
		if a.name == "DENY" {
			enforced = append(enforced, failClosed...)
		}
		for _, p := range in.AuthorizationPolicies {
			if p.Action != a.name || !applies(p) {
				continue
			}
			if p.DryRun {
				dryRun = append(dryRun, p)
			} else {
				enforced = append(enforced, p)
			}
		}
		for _, tcp := range []bool{false, true} {
			set := RBACSet{Action: a.name, Rules: rbacRules(a.action, enforced, in.TrustDomain, tcp), Shadow: rbacRules(a.action, dryRun, in.TrustDomain, tcp)}
			if set.Rules == nil && set.Shadow == nil {
				continue
			}
			if tcp {
				out.TCP = append(out.TCP, set)
			} else {
				out.HTTP = append(out.HTTP, set)
			}
		}
	}
	return out
}

// customPolicies are the CUSTOM policies that apply to the workload: those of its
// provider (the oldest policy's; Istio allows one per workload). Policies naming another
// or an unknown provider cannot be enforced, so their rules deny instead (fail closed).
func customPolicies(in *ir.IR, applies func(*ir.AuthzPolicy) bool) (custom, failClosed []*ir.AuthzPolicy) {
	for _, p := range in.AuthorizationPolicies {
		if p.Action != "CUSTOM" || p.DryRun || !applies(p) {
			continue
		}
		known := providerNamed(in, p.Provider) != nil
		if known && (len(custom) == 0 || custom[0].Provider == p.Provider) {
			custom = append(custom, p)
			continue
		}
		denied := *p
		denied.Action = "DENY"
		failClosed = append(failClosed, &denied)
	}
	return custom, failClosed
}

func providerNamed(in *ir.IR, name string) *ir.AuthzProvider {
	for _, p := range in.AuthzProviders {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// rbacRules renders policies as one RBAC of an action; nil when there are none.
func rbacRules(action rbacv3.RBAC_Action, policies []*ir.AuthzPolicy, td string, tcp bool) *RBACRules {
	return rbacRulesNamed(action, policies, td, tcp, "")
}

// rbacRulesNamed is rbacRules with a prefix on every policy name.
func rbacRulesNamed(action rbacv3.RBAC_Action, policies []*ir.AuthzPolicy, td string, tcp bool, prefix string) *RBACRules {
	if len(policies) == 0 {
		return nil
	}
	out := &RBACRules{Action: action, TrustDomain: td}
	for _, p := range policies {
		for i, r := range p.Rules {
			rule, ok := ruleForConnection(r, action, tcp)
			if !ok {
				continue
			}
			name := prefix + "ns[" + p.Namespace + "]-policy[" + p.Source.Name + "]-rule[" + strconv.Itoa(i) + "]"
			out.Policies = append(out.Policies, RBACPolicy{Name: name, Rule: rule})
		}
	}
	slices.SortStableFunc(out.Policies, func(a, b RBACPolicy) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ruleForConnection adapts a rule to TCP connections, where HTTP attributes do not
// exist, failing closed as Istio does: an ALLOW rule that needs them is dropped (it
// allows nothing), a DENY or AUDIT rule loses them (it denies more).
func ruleForConnection(r *ir.AuthzRule, action rbacv3.RBAC_Action, tcp bool) (*ir.AuthzRule, bool) {
	if !tcp || !needsHTTP(r) {
		return r, true
	}
	if action == rbacv3.RBAC_ALLOW {
		return nil, false
	}
	out := &ir.AuthzRule{}
	for _, f := range r.From {
		c := *f
		c.RequestPrincipals, c.NotRequestPrincipals = nil, nil
		out.From = append(out.From, &c)
	}
	for _, t := range r.To {
		c := *t
		c.Hosts, c.NotHosts, c.Methods, c.NotMethods, c.Paths, c.NotPaths = nil, nil, nil, nil, nil, nil
		out.To = append(out.To, &c)
	}
	for _, w := range r.When {
		if !httpOnlyKey(w.Key) {
			out.When = append(out.When, w)
		}
	}
	return out, true
}

func needsHTTP(r *ir.AuthzRule) bool {
	for _, f := range r.From {
		if len(f.RequestPrincipals)+len(f.NotRequestPrincipals) > 0 {
			return true
		}
	}
	for _, t := range r.To {
		if len(t.Hosts)+len(t.NotHosts)+len(t.Methods)+len(t.NotMethods)+len(t.Paths)+len(t.NotPaths) > 0 {
			return true
		}
	}
	for _, w := range r.When {
		if httpOnlyKey(w.Key) {
			return true
		}
	}
	return false
}

func httpOnlyKey(key string) bool {
	return strings.HasPrefix(key, "request.headers") || strings.HasPrefix(key, "request.auth.")
}

// lists is how many of the lists are not empty: the matchers values makes of them.
func lists(ls ...[]string) int {
	n := 0
	for _, l := range ls {
		if len(l) > 0 {
			n++
		}
	}
	return n
}

// appliesTo reports whether a policy governs the scope's proxies: workloads by
// selector, gateway proxies by selector or by their Gateway as a target.
func appliesTo(in *ir.IR, p *ir.AuthzPolicy, scope Scope) bool {
	class := ""
	if scope.Gateway != "" {
		class = in.GatewayClassOf(scope.Namespace, scope.Gateway)
	}
	return p.AppliesToProxy(in.RootNamespace, scope.Namespace, scope.Labels, scope.Gateway, class)
}
