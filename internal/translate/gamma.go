package translate

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/ir"
)

// meshParent is where GAMMA routes attach: a Service's port (0: every port), for all
// clients (a producer route, in the Service's namespace) or for the clients of one
// namespace (a consumer route, in that namespace).
type meshParent struct {
	host     string
	port     uint32
	consumer string
}

// attachToService attaches an HTTPRoute or GRPCRoute to a Service for mesh traffic
// (GAMMA): sidecars and proxyless clients route requests to that Service by it.
func (t *translator) attachToService(r *routeInput, ref gatewayv1.ParentReference, ns string, mesh map[meshParent][]routeEntry) *gatewayv1.RouteParentStatus {
	accept := func(ok bool, reason gatewayv1.RouteConditionReason, msg string) *gatewayv1.RouteParentStatus {
		return parentStatus(r, ref, MeshController, ok, reason, msg)
	}
	host := string(ref.Name) + "." + ns + ".svc." + t.snap.ClusterDomain
	svc := t.services[host]
	if svc == nil {
		return accept(false, gatewayv1.RouteReasonNoMatchingParent, fmt.Sprintf("parent Service %s/%s does not exist", ns, ref.Name))
	}
	if len(svc.Addresses) == 0 {
		return accept(false, gatewayv1.RouteReasonNoMatchingParent, fmt.Sprintf("parent Service %s/%s is headless: mesh routes need a cluster IP", ns, ref.Name))
	}
	var port uint32
	if ref.Port != nil {
		port = uint32(*ref.Port)
		if !slices.ContainsFunc(svc.Ports, func(p *ir.Port) bool { return p.Number == port }) {
			return accept(false, gatewayv1.RouteReasonNoMatchingParent, fmt.Sprintf("parent Service %s/%s has no port %d", ns, ref.Name, port))
		}
	}
	if r.unsupported != "" {
		return accept(false, gatewayv1.RouteReasonUnsupportedValue, r.unsupported)
	}
	p := meshParent{host: host, port: port}
	if r.key.Namespace != ns {
		p.consumer = r.key.Namespace
	}
	mesh[p] = append(mesh[p], r.entries...)
	return accept(true, gatewayv1.RouteReasonAccepted, fmt.Sprintf("routes mesh traffic to Service %s/%s", ns, ref.Name))
}

// meshRoutes puts the GAMMA routes into the services' route tables, ahead of
// VirtualServices: a consumer namespace's routes first (they apply only to its own
// clients), then the producer's. All routes of one parent merge into one table, in the
// specification's precedence order.
func (t *translator) meshRoutes(mesh map[meshParent][]routeEntry) {
	parents := slices.SortedFunc(maps.Keys(mesh), func(a, b meshParent) int {
		// Producer tables sort last so that consumer tables end up in front.
		ap, bp := a.consumer == "", b.consumer == ""
		if ap != bp {
			if ap {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(a.consumer, b.consumer), cmp.Compare(a.port, b.port))
	})
	slices.Reverse(parents) // prepended one by one below, so the first must go last
	for _, p := range parents {
		svc := t.services[p.host]
		t.restricted.mutating(svc)
		entries := mesh[p]
		first := entries[0]
		table := &ir.RouteTable{Source: ir.ConfigRef{Kind: "GatewayAPIRoutes", Namespace: first.namespace, Name: first.name}, Routes: sortedRoutes(entries)}
		if p.consumer != "" {
			table.ExportTo = ir.Visibility{p.consumer}
		}
		for _, port := range svc.Ports {
			if p.port != 0 && port.Number != p.port {
				continue
			}
			port.RouteTables = append([]*ir.RouteTable{table}, port.RouteTables...)
		}
	}
}
