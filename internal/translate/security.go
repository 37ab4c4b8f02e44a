package translate

import (
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/validate"
)

// DryRunAnnotation makes an AuthorizationPolicy's rules shadow rules, as in Istio.
const DryRunAnnotation = "istio.io/dry-run"

// security translates PeerAuthentications and AuthorizationPolicies. Invalid ones are
// left out (their status says why; the status reconciler writes it), so one bad policy
// never takes others down. Policies with targetRefs apply to what they target
// (Gateways, GatewayClasses, waypoints of Services), never to sidecars.
func (t *translator) security(out *ir.IR) {
	for _, p := range t.snap.Mesh.ExtensionProviders {
		out.AuthzProviders = append(out.AuthzProviders, t.authzProvider(p))
	}
	for _, pa := range t.snap.PeerAuthentications {
		if !t.begin(ir.ConfigRef{Kind: "PeerAuthentication", Namespace: pa.Namespace, Name: pa.Name}) {
			continue
		}
		if p := t.restricted.peerAuthn(pa, peerAuthn); p != nil {
			out.PeerAuthentications = append(out.PeerAuthentications, p)
		}
	}
	for _, ap := range t.snap.AuthorizationPolicies {
		if !t.begin(ir.ConfigRef{Kind: "AuthorizationPolicy", Namespace: ap.Namespace, Name: ap.Name}) {
			continue
		}
		if p := t.restricted.authzPolicy(ap, t.authzPolicy); p != nil {
			out.AuthorizationPolicies = append(out.AuthorizationPolicies, p)
		}
	}
}

// peerAuthn translates a PeerAuthentication, or returns nil when it is invalid.
func peerAuthn(pa *securityv1.PeerAuthentication) *ir.PeerAuthn {
	if len(validate.PeerAuthentication(&pa.Spec)) > 0 {
		return nil
	}
	p := &ir.PeerAuthn{
		Source:    ir.ConfigRef{Kind: "PeerAuthentication", Namespace: pa.Namespace, Name: pa.Name},
		Namespace: pa.Namespace,
	}
	if s := pa.Spec.Selector; s != nil && len(s.MatchLabels) > 0 {
		p.Selector, p.SelectorKey = s.MatchLabels, ir.SelectorKey(s.MatchLabels)
	}
	if pa.Spec.MTLS != nil {
		p.Mode = mtlsMode(pa.Spec.MTLS.Mode)
	}
	for port, m := range pa.Spec.PortLevelMTLS {
		n, err := strconv.ParseUint(port, 10, 32)
		if err != nil || p.Selector == nil {
			continue // validation requires numeric ports and a selector
		}
		if p.PortModes == nil {
			p.PortModes = map[uint32]string{}
		}
		p.PortModes[uint32(n)] = mtlsMode(m.Mode)
	}
	return p
}

// authzPolicy translates an AuthorizationPolicy, or returns nil when it is invalid.
func (t *translator) authzPolicy(ap *securityv1.AuthorizationPolicy) *ir.AuthzPolicy {
	if len(validate.AuthorizationPolicy(&ap.Spec)) > 0 {
		return nil
	}
	p := &ir.AuthzPolicy{
		Source:    ir.ConfigRef{Kind: "AuthorizationPolicy", Namespace: ap.Namespace, Name: ap.Name},
		Namespace: ap.Namespace,
		Action:    string(ap.Spec.Action),
		DryRun:    strings.EqualFold(ap.Annotations[DryRunAnnotation], "true"),
	}
	if p.Action == "" {
		p.Action = string(securityv1.ActionAllow)
	}
	if ap.Spec.Provider != nil {
		p.Provider = ap.Spec.Provider.Name
	}
	if s := ap.Spec.Selector; s != nil && len(s.MatchLabels) > 0 {
		p.Selector, p.SelectorKey = s.MatchLabels, ir.SelectorKey(s.MatchLabels)
	}
	for i := range ap.Spec.Rules {
		p.Rules = append(p.Rules, t.authzRule(&ap.Spec.Rules[i], ap.Namespace))
	}
	refs := ap.Spec.TargetRefs
	if ap.Spec.TargetRef != nil {
		refs = append(refs, *ap.Spec.TargetRef)
	}
	for _, r := range refs {
		p.TargetRefs = append(p.TargetRefs, ir.PolicyTarget{Kind: r.Kind, Name: r.Name})
	}
	return p
}

// mtlsMode maps UNSET to "" (inherit).
func mtlsMode(m securityv1.MutualTLSMode) string {
	if m == securityv1.MTLSModeUnset {
		return ""
	}
	return string(m)
}

func (t *translator) authzRule(r *securityv1.Rule, ns string) *ir.AuthzRule {
	out := &ir.AuthzRule{}
	for _, f := range r.From {
		s := f.Source
		out.From = append(out.From, &ir.AuthzSource{
			Principals:           append(slices.Clone(s.Principals), t.serviceAccounts(s.ServiceAccounts, ns)...),
			NotPrincipals:        append(slices.Clone(s.NotPrincipals), t.serviceAccounts(s.NotServiceAccounts, ns)...),
			RequestPrincipals:    s.RequestPrincipals,
			NotRequestPrincipals: s.NotRequestPrincipals,
			Namespaces:           s.Namespaces, NotNamespaces: s.NotNamespaces,
			IPBlocks: s.IPBlocks, NotIPBlocks: s.NotIPBlocks,
			RemoteIPBlocks: s.RemoteIPBlocks, NotRemoteIPBlocks: s.NotRemoteIPBlocks,
		})
	}
	for _, to := range r.To {
		o := to.Operation
		out.To = append(out.To, &ir.AuthzOperation{
			Hosts: o.Hosts, NotHosts: o.NotHosts, Ports: o.Ports, NotPorts: o.NotPorts,
			Methods: o.Methods, NotMethods: o.NotMethods, Paths: o.Paths, NotPaths: o.NotPaths,
		})
	}
	for _, c := range r.When {
		out.When = append(out.When, &ir.AuthzCondition{Key: c.Key, Values: c.Values, NotValues: c.NotValues})
	}
	return out
}

// serviceAccounts turns "sa" (the policy's namespace) or "ns/sa" into principals.
func (t *translator) serviceAccounts(sas []string, ns string) []string {
	var out []string
	for _, sa := range sas {
		saNS, name, ok := strings.Cut(sa, "/")
		if !ok {
			saNS, name = ns, sa
		}
		out = append(out, t.snap.Mesh.TrustDomain+"/ns/"+saNS+"/sa/"+name)
	}
	return out
}

// authzProvider resolves an ext_authz provider's service to its outbound cluster.
func (t *translator) authzProvider(p meshv1alpha1.MeshExtensionProvider) *ir.AuthzProvider {
	out := &ir.AuthzProvider{Name: p.Name}
	service, port := "", int32(0)
	var timeout *metav1.Duration
	switch {
	case p.EnvoyExtAuthzGrpc != nil:
		g := p.EnvoyExtAuthzGrpc
		out.GRPC, service, port, timeout, out.FailOpen = true, g.Service, g.Port, g.Timeout, g.FailOpen
	case p.EnvoyExtAuthzHTTP != nil:
		h := p.EnvoyExtAuthzHTTP
		service, port, timeout, out.FailOpen = h.Service, h.Port, h.Timeout, h.FailOpen
		out.PathPrefix, out.IncludeRequestHeadersInCheck = h.PathPrefix, h.IncludeRequestHeadersInCheck
		out.HeadersToUpstreamOnAllow, out.HeadersToDownstreamOnDeny = h.HeadersToUpstreamOnAllow, h.HeadersToDownstreamOnDeny
	}
	// Istio's provider services are "name.namespace.svc.<domain>" or "namespace/name".
	if ns, name, ok := strings.Cut(service, "/"); ok {
		service = name + "." + ns + ".svc." + t.snap.ClusterDomain
	}
	out.Host, out.Port = service, uint32(max(port, 0))
	out.Cluster = ir.ClusterName(out.Port, "", service)
	if timeout != nil {
		out.Timeout = &timeout.Duration
	}
	return out
}
