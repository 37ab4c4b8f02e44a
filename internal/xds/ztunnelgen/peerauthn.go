package ztunnelgen

import (
	"cmp"
	"slices"

	"google.golang.org/protobuf/types/known/emptypb"
	"istio.io/istio/pkg/workloadapi/security"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// ztunnel enforces PeerAuthentication as authorization, by istiod's rules: STRICT is
// a DENY of connections without a peer identity (plaintext). Once any
// PeerAuthentication exists, one static policy in the root namespace says so, and
// every captured workload whose mode is STRICT on all its ports lists it. A workload
// whose own PeerAuthentication sets port-level modes lists a policy converted from
// it instead, which denies plaintext on its STRICT ports only. DISABLE means nothing
// in ambient: HBONE between ztunnels is always mutual TLS.

// staticStrict names the static STRICT policy; '_' keeps it from clashing with a
// Kubernetes object's name.
const (
	staticStrict    = "istio_converted_static_strict"
	convertedPrefix = "converted_peer_authentication_"
)

// plaintext matches connections without a peer identity.
func plaintext() *security.Match {
	return &security.Match{NotPrincipals: []*security.StringMatch{{MatchType: &security.StringMatch_Presence{Presence: &emptypb.Empty{}}}}}
}

// denyPlaintext is a DENY of plaintext connections, on ports or all but notPorts.
func denyPlaintext(name, ns string, ports, notPorts []uint32) *security.Authorization {
	m := plaintext()
	m.DestinationPorts, m.NotDestinationPorts = ports, notPorts
	return &security.Authorization{Name: name, Namespace: ns, Scope: security.Scope_WORKLOAD_SELECTOR, Action: security.Action_DENY,
		Groups: []*security.Group{{Rules: []*security.Rules{{Matches: []*security.Match{m}}}}}}
}

// peerAuthn works out the mTLS policy a captured pod lists, adding it to policies
// (by name) when it is new; "" when its mode leaves plaintext in.
func peerAuthn(in *ir.IR, ns string, labels map[string]string, policies map[string]*security.Authorization) string {
	if len(in.PeerAuthentications) == 0 {
		return ""
	}
	m := render.WorkloadMTLS(in, render.Scope{Namespace: ns, Labels: labels})
	var strict, other []uint32
	for _, port := range m.PortNumbers() {
		if m.Ports[port] == ir.MTLSStrict {
			strict = append(strict, port)
		} else {
			other = append(other, port)
		}
	}
	var a *security.Authorization
	switch {
	case m.Mode == ir.MTLSStrict && len(other) == 0:
		a = denyPlaintext(staticStrict, in.RootNamespace, nil, nil)
	case m.Mode == ir.MTLSStrict:
		a = denyPlaintext(convertedPrefix+m.PortsFrom.Name, m.PortsFrom.Namespace, nil, other)
	case len(strict) > 0:
		a = denyPlaintext(convertedPrefix+m.PortsFrom.Name, m.PortsFrom.Namespace, strict, nil)
	default:
		return ""
	}
	name := a.Namespace + "/" + a.Name
	if policies[name] == nil {
		policies[name] = a
	}
	return name
}

// peerAuthnPolicies lists what peerAuthn gathered, sorted by name.
func peerAuthnPolicies(policies map[string]*security.Authorization) []Named[*security.Authorization] {
	out := make([]Named[*security.Authorization], 0, len(policies))
	for name, a := range policies {
		out = append(out, Named[*security.Authorization]{name, a})
	}
	slices.SortFunc(out, func(a, b Named[*security.Authorization]) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
