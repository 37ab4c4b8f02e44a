package render

import (
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Egress is what the Sidecar that applies to a scope lets its sidecars reach, as
// istiod's sidecar scope does: the services its egress listeners' hosts name (among
// those exported to the client's namespace), the VirtualServices of those
// listeners' namespaces and hosts, and the services those VirtualServices route to.
// A nil *Egress reaches everything exported to the client.
type Egress struct {
	sidecar *ir.Sidecar
	ns      string
	// routed are the hosts the imported route tables send traffic to: Istio adds
	// their services so the routes have clusters, whatever the egress hosts say.
	routed map[string]bool
}

// EgressFor is the Egress of a scope's Sidecar, nil when no Sidecar applies.
func EgressFor(in *ir.IR, scope Scope) *Egress {
	sc := in.SidecarFor(scope.Namespace, scope.Labels)
	if sc == nil {
		return nil
	}
	e := &Egress{sidecar: sc, ns: scope.Namespace, routed: map[string]bool{}}
	// Route tables name their destinations by hostname; a destination's service is
	// added on every port, as Istio adds the whole service to the listener.
	for _, svc := range VisibleServices(in, scope) {
		for _, port := range svc.Ports {
			if !e.listens(svc, port) {
				continue
			}
			if t := e.table(svc, port); t != nil && t.Source.Kind != "" {
				for _, r := range t.Routes {
					if r.Forward != nil {
						for _, d := range r.Forward.Destinations {
							e.routed[d.Hostname] = true
						}
					}
				}
			}
			if t := e.l4Table(svc, port); t != nil {
				for _, r := range append(t.TLS[:len(t.TLS):len(t.TLS)], t.TCP...) {
					for _, d := range r.Destinations {
						e.routed[d.Hostname] = true
					}
				}
			}
		}
	}
	return e
}

// Key identifies what the Egress imports ("" for a nil Egress): what a generator
// renders for a scope depends on it (Memo.Depends).
func (e *Egress) Key() string {
	if e == nil {
		return ""
	}
	return e.sidecar.Key
}

// RegistryOnly reports whether unknown destinations are blocked rather than passed
// through (outboundTrafficPolicy REGISTRY_ONLY).
func (e *Egress) RegistryOnly() bool { return e != nil && e.sidecar.RegistryOnly }

// Listens reports whether sidecars of the scope listen for a service port (an egress
// listener imports it): it gets its listener or virtual host and its clusters.
func (e *Egress) Listens(svc *ir.Service, port *ir.Port) bool {
	return e == nil || e.listens(svc, port)
}

// Routed reports whether a route table the scope imports sends traffic to the
// service: it then gets its clusters, though no listener or virtual host of its own
// (Istio's sidecar scope adds route destinations so the routes have clusters).
func (e *Egress) Routed(svc *ir.Service) bool { return e == nil || e.routed[svc.Hostname] }

// listens reports whether an egress listener imports the service port. The listener
// naming the port decides; the catch-all gives way to it where the two would share
// an Envoy listener (0.0.0.0_<port> for HTTP and for services without an address),
// as Istio locks the listeners of ports named explicitly.
func (e *Egress) listens(svc *ir.Service, port *ir.Port) bool {
	dedicated, catchAll := e.sidecar.Listeners(port.Number)
	if dedicated != nil && dedicated.Imports(e.ns, svc.Namespace, svc.Hostname) {
		return true
	}
	if catchAll == nil || !catchAll.Imports(e.ns, svc.Namespace, svc.Hostname) {
		return false
	}
	return dedicated == nil || (!model.Protocol(port.Protocol).CarriesHTTPRoutes() && len(svc.Addresses) > 0)
}

// imports reports whether a route table from an object in namespace ns applies to a
// host under the Sidecar: Istio takes a VirtualService only from a namespace, and
// for a host, that the listener covering the port names.
func (e *Egress) imports(source ir.ConfigRef, svc *ir.Service, port *ir.Port) bool {
	l := e.sidecar.Listener(port.Number)
	return l != nil && l.Imports(e.ns, source.Namespace, svc.Hostname)
}

// table is the HTTP route table the scope uses for a service port.
func (e *Egress) table(svc *ir.Service, port *ir.Port) *ir.RouteTable {
	for _, t := range port.RouteTables {
		if t.ExportTo.VisibleTo(e.ns) && e.imports(t.Source, svc, port) {
			return t
		}
	}
	return port.Default
}

// l4Table is the tcp/tls table the scope uses for a service port, nil for none.
func (e *Egress) l4Table(svc *ir.Service, port *ir.Port) *ir.L4Table {
	for _, t := range port.L4Tables {
		if t.ExportTo.VisibleTo(e.ns) && e.imports(t.Source, svc, port) {
			return t
		}
	}
	return nil
}

// SidecarTable is the HTTP route table a sidecar in scope uses for a service port:
// the first visible one its Sidecar imports (ClientTable without a Sidecar).
func SidecarTable(e *Egress, svc *ir.Service, port *ir.Port, scope Scope) *ir.RouteTable {
	if e == nil {
		return ClientTable(port, scope)
	}
	return scopedTable(e.table(svc, port), scope)
}

// SidecarL4Table is the tcp/tls table a sidecar in scope uses for a service port.
func SidecarL4Table(e *Egress, svc *ir.Service, port *ir.Port, ns string) *ir.L4Table {
	if e == nil {
		for _, t := range port.L4Tables {
			if t.ExportTo.VisibleTo(ns) {
				return t
			}
		}
		return nil
	}
	return e.l4Table(svc, port)
}
