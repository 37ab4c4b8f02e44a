package render

import (
	"slices"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Scope is what makes one client's config differ from another's: its namespace
// (exportTo, DestinationRule selection, sourceNamespace) and its labels
// (sourceLabels, workloadSelector). Generators read labels only through the IR's
// client selectors, so clients with equal ir.ClientSignature get equal config.
type Scope struct {
	Namespace string
	Labels    map[string]string
	// Locality is where the client runs; it matters only for locality-aware clusters
	// (ir.IR.LocalityAware), and is part of the scope only then.
	Locality model.Locality
	// ServerListeners are the inbound listener names proxyless gRPC servers of the scope
	// asked for (they carry each server's address, so they are rendered on demand).
	ServerListeners []string
	// Gateway names the Gateway (in Namespace) whose proxies the scope is, for gateway
	// proxies only.
	Gateway string
	// Workloads are, for a waypoint, the addresses of the pods whose own traffic it
	// serves (istio.io/use-waypoint on the pod or its namespace), sorted.
	Workloads []string
}

// Policy is the DestinationRule the scope uses for a service.
func (s Scope) Policy(in *ir.IR, svc *ir.Service) *ir.DestinationPolicy {
	return svc.SelectPolicy(s.Namespace, in.RootNamespace, s.Labels)
}

// SelectsClient reports whether a match's client conditions hold for the scope.
func (s Scope) SelectsClient(sourceNamespace string, sourceLabels map[string]string) bool {
	return (sourceNamespace == "" || sourceNamespace == s.Namespace) && ir.Selects(sourceLabels, s.Labels)
}

// LookupFor finds services by hostname with the DestinationRule the scope uses.
func LookupFor(in *ir.IR, scope Scope) Lookup {
	return func(host string) (*ir.Service, *ir.DestinationPolicy) {
		svc := in.Service(host)
		if svc == nil {
			return nil, nil
		}
		return svc, scope.Policy(in, svc)
	}
}

// VisibleServices are the services a client in scope may reach (exportTo), in the
// IR's order.
func VisibleServices(in *ir.IR, scope Scope) []*ir.Service {
	var out []*ir.Service
	for _, svc := range in.Services {
		if VisibleTo(svc, scope.Namespace) {
			out = append(out, svc)
		}
	}
	return out
}

// VisibleTo reports whether a client in namespace ns may reach a service (exportTo).
func VisibleTo(svc *ir.Service, ns string) bool {
	return svc.ExportTo.VisibleTo(ns) || svc.Namespace == ns
}

// ClientTable is the route table a client in scope uses for a service port, with no
// Sidecar to narrow what it imports.
func ClientTable(port *ir.Port, scope Scope) *ir.RouteTable {
	return SidecarTable(nil, nil, port, scope)
}

// scopedTable drops the matches a client in scope does not satisfy (sourceNamespace,
// sourceLabels) and the routes left with no match.
func scopedTable(t *ir.RouteTable, scope Scope) *ir.RouteTable {
	// Most tables restrict no route to some clients: they are used as they are.
	if !slices.ContainsFunc(t.Routes, func(r *ir.Route) bool {
		return slices.ContainsFunc(r.Matches, func(m *ir.Match) bool { return !scope.SelectsClient(m.SourceNamespace, m.SourceLabels) })
	}) {
		return t
	}
	out := &ir.RouteTable{Source: t.Source, ExportTo: t.ExportTo}
	for _, r := range t.Routes {
		if len(r.Matches) == 0 {
			out.Routes = append(out.Routes, r)
			continue
		}
		var kept []*ir.Match
		for _, m := range r.Matches {
			if scope.SelectsClient(m.SourceNamespace, m.SourceLabels) {
				kept = append(kept, m)
			}
		}
		if len(kept) == 0 {
			continue
		}
		c := *r
		c.Matches = kept
		out.Routes = append(out.Routes, &c)
	}
	return out
}
