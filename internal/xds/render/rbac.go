package render

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
)

// RBACSet is the Envoy RBAC of one action for a workload: enforced rules and dry-run
// (shadow) rules, either may be nil.
type RBACSet struct {
	Action string // DENY, AUDIT, ALLOW (Istio's order)
	Rules  *rbacv3.RBAC
	Shadow *rbacv3.RBAC
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
	HTTPRules *rbacv3.RBAC
	TCPRules  *rbacv3.RBAC // nil for an HTTP provider: TCP has no HTTP check
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
func rbacRules(action rbacv3.RBAC_Action, policies []*ir.AuthzPolicy, td string, tcp bool) *rbacv3.RBAC {
	return rbacRulesNamed(action, policies, td, tcp, "")
}

// rbacRulesNamed is rbacRules with a prefix on every policy name.
func rbacRulesNamed(action rbacv3.RBAC_Action, policies []*ir.AuthzPolicy, td string, tcp bool, prefix string) *rbacv3.RBAC {
	if len(policies) == 0 {
		return nil
	}
	out := &rbacv3.RBAC{Action: action, Policies: map[string]*rbacv3.Policy{}}
	for _, p := range policies {
		for i, r := range p.Rules {
			rule, ok := ruleForConnection(r, action, tcp)
			if !ok {
				continue
			}
			out.Policies[prefix+"ns["+p.Namespace+"]-policy["+p.Source.Name+"]-rule["+strconv.Itoa(i)+"]"] = policy(rule, td)
		}
	}
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

// policy is one rule: any of its operations (and every operation-side condition) by
// any of its sources (and every source-side condition).
func policy(r *ir.AuthzRule, td string) *rbacv3.Policy {
	perms := make([]*rbacv3.Permission, 0, 1+len(r.When))
	if len(r.To) > 0 {
		perms = append(perms, anyOf(r.To, operation, orPerm))
	}
	ids := make([]*rbacv3.Principal, 0, 1+len(r.When))
	if len(r.From) > 0 {
		ids = append(ids, anyOf(r.From, func(f *ir.AuthzSource) *rbacv3.Principal { return source(f, td) }, orIDs))
	}
	for _, w := range r.When {
		if p := conditionPrincipal(w, td); p != nil {
			ids = append(ids, p)
		} else {
			perms = append(perms, conditionPermission(w))
		}
	}
	p := new(struct {
		policy rbacv3.Policy
		perms  [1]*rbacv3.Permission
		ids    [1]*rbacv3.Principal
	})
	p.perms[0], p.ids[0] = andPerm(perms), andIDs(ids)
	p.policy.Permissions, p.policy.Principals = p.perms[:], p.ids[:]
	return &p.policy
}

// anyOf is the matcher of any of items: or of each one's matcher, or the one's alone.
func anyOf[I, T any](items []I, f func(I) T, or func([]T) T) T {
	if len(items) == 1 {
		return f(items[0])
	}
	all := make([]T, len(items))
	for i, it := range items {
		all[i] = f(it)
	}
	return or(all)
}

func operation(o *ir.AuthzOperation) *rbacv3.Permission {
	host := func(v string) *rbacv3.Permission { return headerPerm(":authority", v, true) }
	method := func(v string) *rbacv3.Permission { return headerPerm(":method", v, false) }
	all := make([]*rbacv3.Permission, 0, lists(o.Hosts, o.NotHosts, o.Ports, o.NotPorts, o.Methods, o.NotMethods, o.Paths, o.NotPaths))
	all = permAlg.values(all, o.Hosts, o.NotHosts, host)
	all = permAlg.values(all, o.Ports, o.NotPorts, portPerm)
	all = permAlg.values(all, o.Methods, o.NotMethods, method)
	all = permAlg.values(all, o.Paths, o.NotPaths, pathPerm)
	return andPerm(all)
}

func source(s *ir.AuthzSource, td string) *rbacv3.Principal {
	all := make([]*rbacv3.Principal, 0, lists(s.Principals, s.NotPrincipals, s.RequestPrincipals, s.NotRequestPrincipals,
		s.Namespaces, s.NotNamespaces, s.IPBlocks, s.NotIPBlocks, s.RemoteIPBlocks, s.NotRemoteIPBlocks))
	all = idAlg.values(all, s.Principals, s.NotPrincipals, principalID)
	all = idAlg.values(all, s.RequestPrincipals, s.NotRequestPrincipals, requestPrincipal)
	all = idAlg.values(all, s.Namespaces, s.NotNamespaces, namespaceID)
	all = idAlg.values(all, s.IPBlocks, s.NotIPBlocks, directIP)
	all = idAlg.values(all, s.RemoteIPBlocks, s.NotRemoteIPBlocks, remoteIP)
	return andIDs(all)
}

// conditionPrincipal renders a source-side `when` condition, or nil for an
// operation-side key.
func conditionPrincipal(c *ir.AuthzCondition, td string) *rbacv3.Principal {
	var f func(string) *rbacv3.Principal
	switch {
	case c.Key == "source.ip":
		f = directIP
	case c.Key == "remote.ip":
		f = remoteIP
	case c.Key == "source.namespace":
		f = namespaceID
	case c.Key == "source.principal":
		f = principalID
	case c.Key == "source.serviceAccount":
		f = func(v string) *rbacv3.Principal {
			ns, sa, _ := strings.Cut(v, "/")
			return principalID(td + "/ns/" + ns + "/sa/" + sa)
		}
	case c.Key == "request.auth.principal":
		f = requestPrincipal
	case strings.HasPrefix(c.Key, "request.auth."):
		f = func(v string) *rbacv3.Principal { return authnMetadata(c.Key, v) }
	case strings.HasPrefix(c.Key, "request.headers["):
		name := strings.TrimSuffix(strings.TrimPrefix(c.Key, "request.headers["), "]")
		f = func(v string) *rbacv3.Principal {
			return &rbacv3.Principal{Identifier: &rbacv3.Principal_Header{Header: headerMatcher(name, v, false)}}
		}
	default:
		return nil
	}
	return andIDs(idAlg.values(nil, c.Values, c.NotValues, f))
}

// conditionPermission renders an operation-side `when` condition. Keys meshd cannot
// evaluate match nothing, so an ALLOW rule using them allows nothing (fail closed).
func conditionPermission(c *ir.AuthzCondition) *rbacv3.Permission {
	var f func(string) *rbacv3.Permission
	switch c.Key {
	case "destination.ip":
		f = func(v string) *rbacv3.Permission {
			return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: cidr(v)}}
		}
	case "destination.port":
		f = portPerm
	case "connection.sni":
		f = func(v string) *rbacv3.Permission {
			return &rbacv3.Permission{Rule: &rbacv3.Permission_RequestedServerName{RequestedServerName: wildcardMatcher(v, false)}}
		}
	default:
		return notPerm(anyPerm())
	}
	return andPerm(permAlg.values(nil, c.Values, c.NotValues, f))
}

// principalID matches the peer's mTLS identity: Istio's principals omit "spiffe://";
// "*" is any authenticated peer.
func principalID(v string) *rbacv3.Principal {
	if v != "*" {
		v = prefixSPIFFE(v)
	}
	return authenticated(v)
}

// authenticatedParts are the messages of a match on the peer's identity, allocated
// together, as all the parts below are: RBAC is made of many small messages, and
// allocating them one by one was a third of rendering a hundred policies.
type authenticatedParts struct {
	principal rbacv3.Principal
	auth      rbacv3.Principal_Authenticated_
	name      rbacv3.Principal_Authenticated
	match     stringMatcherParts
}

func (p *authenticatedParts) of(m *matcherv3.StringMatcher) *rbacv3.Principal {
	p.name.PrincipalName = m
	p.auth.Authenticated = &p.name
	p.principal.Identifier = &p.auth
	return &p.principal
}

// authenticated matches the peer's identity by Istio's value syntax.
func authenticated(v string) *rbacv3.Principal {
	p := new(authenticatedParts)
	return p.of(p.match.wildcard(v, false))
}

// prefixSPIFFE adds the scheme to a value that matches an identity exactly or by
// prefix: all but "*suffix" values (wildcardMatcher makes "*a*" a prefix match too).
func prefixSPIFFE(v string) string {
	if strings.HasPrefix(v, "*") && !strings.HasSuffix(v, "*") {
		return v
	}
	return "spiffe://" + v
}

// namespaceID matches peers whose identity is in a namespace.
func namespaceID(ns string) *rbacv3.Principal {
	re := ".*/ns/" + regexp.QuoteMeta(ns) + "/.*"
	switch {
	case ns == "*":
		re = ".*/ns/.+/.*"
	case strings.HasSuffix(ns, "*"):
		re = ".*/ns/" + regexp.QuoteMeta(strings.TrimSuffix(ns, "*")) + "[^/]*/.*"
	case strings.HasPrefix(ns, "*"):
		re = ".*/ns/[^/]*" + regexp.QuoteMeta(strings.TrimPrefix(ns, "*")) + "/.*"
	}
	p := new(struct {
		authenticatedParts
		re regexParts
	})
	return p.of(p.re.of(&p.match.m, re))
}

// requestPrincipal matches the request's JWT principal as Istio's authn filter records
// it; without a RequestAuthentication nothing is recorded and nothing matches.
func requestPrincipal(v string) *rbacv3.Principal {
	return authnMetadata("request.auth.principal", v)
}

func authnMetadata(key, v string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Metadata{Metadata: &matcherv3.MetadataMatcher{
		Filter: "istio_authn",
		Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: key}}},
		Value:  &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: wildcardMatcher(v, false)}},
	}}}
}

func directIP(v string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: cidr(v)}}
}

func remoteIP(v string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_RemoteIp{RemoteIp: cidr(v)}}
}

// cidr parses an address or CIDR (validation has refused anything else).
func cidr(v string) *corev3.CidrRange {
	if !strings.Contains(v, "/") {
		if a, err := netip.ParseAddr(v); err == nil {
			return &corev3.CidrRange{AddressPrefix: a.String(), PrefixLen: wrapperspb.UInt32(uint32(a.BitLen()))}
		}
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return &corev3.CidrRange{AddressPrefix: "0.0.0.0", PrefixLen: wrapperspb.UInt32(32)}
	}
	return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}
}

func portPerm(v string) *rbacv3.Permission {
	n, _ := strconv.ParseUint(v, 10, 32)
	return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: uint32(n)}}
}

// pathPerm matches the request path without its query: exact, "prefix*", "*suffix",
// or "*" for any.
func pathPerm(v string) *rbacv3.Permission {
	p := new(struct {
		perm  rbacv3.Permission
		url   rbacv3.Permission_UrlPath
		path  matcherv3.PathMatcher
		rule  matcherv3.PathMatcher_Path
		match stringMatcherParts
	})
	p.rule.Path = p.match.wildcard(v, false)
	p.path.Rule = &p.rule
	p.url.UrlPath = &p.path
	p.perm.Rule = &p.url
	return &p.perm
}

func headerPerm(name, v string, ignoreCase bool) *rbacv3.Permission {
	p := new(struct {
		perm   rbacv3.Permission
		rule   rbacv3.Permission_Header
		header headerMatcherParts
	})
	p.rule.Header = p.header.of(name, v, ignoreCase)
	p.perm.Rule = &p.rule
	return &p.perm
}

func headerMatcher(name, v string, ignoreCase bool) *routev3.HeaderMatcher {
	return new(headerMatcherParts).of(name, v, ignoreCase)
}

// headerMatcherParts are a header's match by Istio's value syntax.
type headerMatcherParts struct {
	header routev3.HeaderMatcher
	string routev3.HeaderMatcher_StringMatch
	match  stringMatcherParts
}

func (p *headerMatcherParts) of(name, v string, ignoreCase bool) *routev3.HeaderMatcher {
	p.string.StringMatch = p.match.wildcard(v, ignoreCase)
	p.header.Name, p.header.HeaderMatchSpecifier = name, &p.string
	return &p.header
}

// wildcardMatcher is Istio's value syntax: "*" any non-empty, "prefix*", "*suffix",
// otherwise exact.
func wildcardMatcher(v string, ignoreCase bool) *matcherv3.StringMatcher {
	return new(stringMatcherParts).wildcard(v, ignoreCase)
}

// stringMatcherParts hold a string matcher and whichever pattern it takes.
type stringMatcherParts struct {
	m      matcherv3.StringMatcher
	exact  matcherv3.StringMatcher_Exact
	prefix matcherv3.StringMatcher_Prefix
	suffix matcherv3.StringMatcher_Suffix
}

func (p *stringMatcherParts) wildcard(v string, ignoreCase bool) *matcherv3.StringMatcher {
	p.m.IgnoreCase = ignoreCase
	switch {
	case v == "*":
		return new(regexParts).of(&p.m, ".+")
	case strings.HasSuffix(v, "*"):
		p.prefix.Prefix = strings.TrimSuffix(v, "*")
		p.m.MatchPattern = &p.prefix
	case strings.HasPrefix(v, "*"):
		p.suffix.Suffix = strings.TrimPrefix(v, "*")
		p.m.MatchPattern = &p.suffix
	default:
		p.exact.Exact = v
		p.m.MatchPattern = &p.exact
	}
	return &p.m
}

// regexParts are a regular expression's pattern of a string matcher.
type regexParts struct {
	safe matcherv3.StringMatcher_SafeRegex
	re   matcherv3.RegexMatcher
}

// of makes m match re.
func (p *regexParts) of(m *matcherv3.StringMatcher, re string) *matcherv3.StringMatcher {
	p.re.Regex = re
	p.safe.SafeRegex = &p.re
	m.MatchPattern = &p.safe
	return m
}

// algebra builds matchers of one kind (permissions or principals) from Istio's value
// lists: a field matches any of its values, a not-field none of them.
type algebra[T any] struct {
	or  func([]T) T
	not func(T) T
}

var (
	permAlg = algebra[*rbacv3.Permission]{or: orPerm, not: notPerm}
	idAlg   = algebra[*rbacv3.Principal]{or: orIDs, not: notID}
)

// values appends to all the matcher of vals and of notVals (each when non-empty).
func (a algebra[T]) values(all []T, vals, notVals []string, f func(string) T) []T {
	if len(vals) > 0 {
		all = append(all, anyOf(vals, f, a.or))
	}
	if len(notVals) > 0 {
		all = append(all, a.not(anyOf(notVals, f, a.or)))
	}
	return all
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

func notPerm(p *rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_NotRule{NotRule: p}}
}

func notID(p *rbacv3.Principal) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: p}}
}

func anyPerm() *rbacv3.Permission { return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}} }

func andPerm(ps []*rbacv3.Permission) *rbacv3.Permission {
	switch len(ps) {
	case 0:
		return anyPerm()
	case 1:
		return ps[0]
	}
	return permSet(ps, true)
}

func orPerm(ps []*rbacv3.Permission) *rbacv3.Permission {
	if len(ps) == 1 {
		return ps[0]
	}
	return permSet(ps, false)
}

// permSet is the permission of all (and) or any of ps, its parts allocated together.
func permSet(ps []*rbacv3.Permission, and bool) *rbacv3.Permission {
	p := new(struct {
		perm rbacv3.Permission
		and  rbacv3.Permission_AndRules
		or   rbacv3.Permission_OrRules
		set  rbacv3.Permission_Set
	})
	p.set.Rules = ps
	if and {
		p.and.AndRules, p.perm.Rule = &p.set, &p.and
	} else {
		p.or.OrRules, p.perm.Rule = &p.set, &p.or
	}
	return &p.perm
}

func andIDs(ps []*rbacv3.Principal) *rbacv3.Principal {
	switch len(ps) {
	case 0:
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
	case 1:
		return ps[0]
	}
	return idSet(ps, true)
}

func orIDs(ps []*rbacv3.Principal) *rbacv3.Principal {
	if len(ps) == 1 {
		return ps[0]
	}
	return idSet(ps, false)
}

// idSet is the principal of all (and) or any of ps, its parts allocated together.
func idSet(ps []*rbacv3.Principal, and bool) *rbacv3.Principal {
	p := new(struct {
		id  rbacv3.Principal
		and rbacv3.Principal_AndIds
		or  rbacv3.Principal_OrIds
		set rbacv3.Principal_Set
	})
	p.set.Ids = ps
	if and {
		p.and.AndIds, p.id.Identifier = &p.set, &p.and
	} else {
		p.or.OrIds, p.id.Identifier = &p.set, &p.or
	}
	return &p.id
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
