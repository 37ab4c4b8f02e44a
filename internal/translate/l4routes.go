package translate

import (
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
)

// l4Table translates a VirtualService's tls and tcp routes for one non-HTTP service port.
// Matches that name another port or only gateways other than mesh are dropped, and so
// are routes left with no match.
func (t *translator) l4Table(vs *networkingv1.VirtualService, ref ir.ConfigRef, vis ir.Visibility, port uint32, rep *ObjectReport) *ir.L4Table {
	table := &ir.L4Table{Source: ref, ExportTo: vis}
	for i := range vs.Spec.TLS {
		r := &vs.Spec.TLS[i]
		var matches []*ir.L4Match
		for _, m := range r.Match {
			if (m.Port != 0 && m.Port != port) || !matchAppliesToMesh(m.Gateways) {
				continue
			}
			matches = append(matches, &ir.L4Match{SNIHosts: m.SniHosts, DestinationSubnets: m.DestinationSubnets,
				SourceLabels: m.SourceLabels, SourceNamespace: m.SourceNamespace})
		}
		if len(matches) == 0 {
			continue // a tls route always has matches; none applies here
		}
		table.TLS = append(table.TLS, &ir.L4Route{Matches: matches, Destinations: t.l4Destinations(r.Route, vs.Namespace, port, rep)})
	}
	for i := range vs.Spec.TCP {
		r := &vs.Spec.TCP[i]
		var matches []*ir.L4Match
		for _, m := range r.Match {
			if (m.Port != 0 && m.Port != port) || !matchAppliesToMesh(m.Gateways) {
				continue
			}
			matches = append(matches, &ir.L4Match{DestinationSubnets: m.DestinationSubnets,
				SourceLabels: m.SourceLabels, SourceNamespace: m.SourceNamespace})
		}
		if len(r.Match) > 0 && len(matches) == 0 {
			continue
		}
		table.TCP = append(table.TCP, &ir.L4Route{Matches: matches, Destinations: t.l4Destinations(r.Route, vs.Namespace, port, rep)})
	}
	return table
}

func (t *translator) l4Destinations(ds []networkingv1.RouteDestination, ns string, port uint32, rep *ObjectReport) []*ir.Destination {
	var out []*ir.Destination
	for i := range ds {
		d := &ir.Destination{Weight: uint32(max(ds[i].Weight, 0))}
		t.destination(&ds[i].Destination, ns, port, d, rep)
		out = append(out, d)
	}
	if len(out) == 1 && out[0].Weight == 0 {
		out[0].Weight = 100
	}
	return out
}

// matchAppliesToMesh reports whether a match's own gateways (which override the
// VirtualService's) include sidecars.
func matchAppliesToMesh(gateways []string) bool {
	return len(gateways) == 0 || appliesToMesh(gateways)
}
