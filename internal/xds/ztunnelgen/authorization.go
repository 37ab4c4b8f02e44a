package ztunnelgen

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/emptypb"
	"istio.io/istio/pkg/workloadapi/security"

	"github.com/meshd-io/meshd/internal/ir"
)

// What ztunnel enforces of AuthorizationPolicies, by istiod's rules:
//   - policies with targetRefs are a waypoint's (or a gateway's), never ztunnel's;
//   - only ALLOW and DENY: AUDIT and CUSTOM need a proxy that speaks HTTP;
//   - a policy without a selector applies to its namespace (NAMESPACE), or the whole
//     mesh from the root namespace (GLOBAL); one with a selector only to the workloads
//     that list it (WORKLOAD_SELECTOR);
//   - ztunnel sees L4 only: source principals, namespaces and IPs, destination IPs
//     and ports. A rule that needs HTTP (methods, paths, hosts, request principals,
//     remote IPs, other `when` keys) can never match in an ALLOW policy, so it is left
//     out (an ALLOW policy left with no rule allows nothing, as spec {} does: more
//     restrictive than asked, never less); in a DENY policy its HTTP parts become
//     empty matches, which ztunnel never matches, so such a rule denies nothing at L4
//     (istiod's rule too: the waypoint or sidecar that sees HTTP enforces it).

// l4Keys are the `when` keys ztunnel can evaluate.
var l4Keys = map[string]bool{"source.ip": true, "source.namespace": true, "source.principal": true,
	"destination.ip": true, "destination.port": true}

// convertible reports whether ztunnel enforces (part of) a policy.
func convertible(p *ir.AuthzPolicy) bool {
	return len(p.TargetRefs) == 0 && (p.Action == "ALLOW" || p.Action == "DENY")
}

// policyName is a policy's resource name, and how workloads refer to it.
func policyName(p *ir.AuthzPolicy) string { return p.Namespace + "/" + p.Source.Name }

// selectorPolicies are the convertible policies that select workloads by labels.
func selectorPolicies(in *ir.IR) []*ir.AuthzPolicy {
	var out []*ir.AuthzPolicy
	for _, p := range in.AuthorizationPolicies {
		if convertible(p) && len(p.Selector) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// Authorizations renders every policy ztunnel enforces, sorted by name.
func Authorizations(in *ir.IR) []Named[*security.Authorization] {
	var out []Named[*security.Authorization]
	for _, p := range in.AuthorizationPolicies {
		if !convertible(p) {
			continue
		}
		a := &security.Authorization{Name: p.Source.Name, Namespace: p.Namespace, DryRun: p.DryRun}
		switch {
		case len(p.Selector) > 0:
			a.Scope = security.Scope_WORKLOAD_SELECTOR
		case p.Namespace == in.RootNamespace:
			a.Scope = security.Scope_GLOBAL
		default:
			a.Scope = security.Scope_NAMESPACE
		}
		if p.Action == "DENY" {
			a.Action = security.Action_DENY
		}
		for _, r := range p.Rules {
			if g := group(r, a.Action); g != nil {
				a.Groups = append(a.Groups, g)
			}
		}
		out = append(out, Named[*security.Authorization]{policyName(p), a})
	}
	slices.SortFunc(out, func(a, b Named[*security.Authorization]) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// group is one rule: its operations (ORed) AND its sources (ORed) AND each condition;
// nil when the rule needs HTTP and the policy allows.
func group(r *ir.AuthzRule, action security.Action) *security.Group {
	needsHTTP := false
	g := &security.Group{Rules: []*security.Rules{}}
	var to, from []*security.Match
	for _, o := range r.To {
		needsHTTP = needsHTTP || len(o.Hosts)+len(o.NotHosts)+len(o.Methods)+len(o.NotMethods)+len(o.Paths)+len(o.NotPaths) > 0
		to = append(to, &security.Match{DestinationPorts: ports(o.Ports), NotDestinationPorts: ports(o.NotPorts)})
	}
	for _, s := range r.From {
		needsHTTP = needsHTTP || len(s.RequestPrincipals)+len(s.NotRequestPrincipals)+len(s.RemoteIPBlocks)+len(s.NotRemoteIPBlocks) > 0
		from = append(from, &security.Match{
			Principals: stringMatches(s.Principals), NotPrincipals: stringMatches(s.NotPrincipals),
			Namespaces: stringMatches(s.Namespaces), NotNamespaces: stringMatches(s.NotNamespaces),
			SourceIps: addresses(s.IPBlocks), NotSourceIps: addresses(s.NotIPBlocks),
		})
	}
	if len(to) > 0 {
		g.Rules = append(g.Rules, &security.Rules{Matches: to})
	}
	if len(from) > 0 {
		g.Rules = append(g.Rules, &security.Rules{Matches: from})
	}
	for _, c := range r.When {
		needsHTTP = needsHTTP || !l4Keys[c.Key]
		g.Rules = append(g.Rules, &security.Rules{Matches: []*security.Match{condition(c)}})
	}
	if needsHTTP && action == security.Action_ALLOW {
		return nil
	}
	return g
}

// condition is a `when` condition on an L4 key; on any other key it is an empty match
// (which matches everything: only DENY policies keep it).
func condition(c *ir.AuthzCondition) *security.Match {
	m := &security.Match{}
	switch c.Key {
	case "source.namespace":
		m.Namespaces, m.NotNamespaces = stringMatches(c.Values), stringMatches(c.NotValues)
	case "source.principal":
		m.Principals, m.NotPrincipals = stringMatches(c.Values), stringMatches(c.NotValues)
	case "source.ip":
		m.SourceIps, m.NotSourceIps = addresses(c.Values), addresses(c.NotValues)
	case "destination.ip":
		m.DestinationIps, m.NotDestinationIps = addresses(c.Values), addresses(c.NotValues)
	case "destination.port":
		m.DestinationPorts, m.NotDestinationPorts = ports(c.Values), ports(c.NotValues)
	}
	return m
}

// stringMatches reads Istio's string patterns: "*" is presence, "*x" a suffix, "x*" a
// prefix, anything else exact.
func stringMatches(vs []string) []*security.StringMatch {
	var out []*security.StringMatch
	for _, v := range vs {
		m := &security.StringMatch{}
		switch {
		case v == "*":
			m.MatchType = &security.StringMatch_Presence{Presence: &emptypb.Empty{}}
		case strings.HasPrefix(v, "*"):
			m.MatchType = &security.StringMatch_Suffix{Suffix: v[1:]}
		case strings.HasSuffix(v, "*"):
			m.MatchType = &security.StringMatch_Prefix{Prefix: v[:len(v)-1]}
		default:
			m.MatchType = &security.StringMatch_Exact{Exact: v}
		}
		out = append(out, m)
	}
	return out
}

// ports reads port numbers; validation rejected anything else.
func ports(vs []string) []uint32 {
	var out []uint32
	for _, v := range vs {
		if n, err := strconv.ParseUint(v, 10, 16); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

// addresses reads IPs and CIDRs; an IP is a host prefix.
func addresses(vs []string) []*security.Address {
	var out []*security.Address
	for _, v := range vs {
		prefix, err := netip.ParsePrefix(v)
		if err != nil {
			a, err := netip.ParseAddr(v)
			if err != nil {
				continue
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, &security.Address{Address: prefix.Addr().AsSlice(), Length: uint32(prefix.Bits())})
	}
	return out
}
