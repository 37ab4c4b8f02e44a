package render

import (
	"cmp"
	"slices"
	"strings"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
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
	// services are the services the scope is configured for, imported or routed to,
	// by hostname: a generator walks these, not the mesh.
	services []*ir.Service
}

// EgressFor is the Egress of a scope's Sidecar, nil when no Sidecar applies. Its cost
// grows with what the Sidecar imports, not with the mesh: services are found through
// the IR's index by namespace and hostname.
func EgressFor(in *ir.IR, scope Scope) *Egress {
	sc := in.SidecarFor(scope.Namespace, scope.Labels)
	if sc == nil {
		return nil
	}
	e := &Egress{sidecar: sc, ns: scope.Namespace, routed: map[string]bool{}}
	seen := map[*ir.Service]bool{}
	whole := false // some entry reached every service: keep the IR's order
	add := func(svc *ir.Service) {
		if !seen[svc] && VisibleTo(svc, e.ns) {
			seen[svc] = true
			e.services = append(e.services, svc)
		}
	}
	for _, l := range sc.Egress {
		for _, h := range l.Hosts {
			whole = e.candidates(in, h, add) || whole
		}
	}
	// Route tables name their destinations by hostname; a destination's service is
	// added on every port, as Istio adds the whole service to the listener.
	for _, svc := range e.services {
		for _, port := range svc.Ports {
			if l := e.listenerOf(svc, port); l != nil {
				e.addRouted(l, svc, port)
			}
		}
	}
	// A Unix domain socket listener takes every port of the services it imports, on
	// its own listener: they need their clusters, and so do their routes'
	// destinations.
	for _, l := range sc.Egress {
		if l.Socket == "" {
			continue
		}
		for _, svc := range e.services {
			if !l.Imports(e.ns, svc.Namespace, svc.Hostname) {
				continue
			}
			e.routed[svc.Hostname] = true
			for _, port := range svc.Ports {
				e.addRouted(l, svc, port)
			}
		}
	}
	if p := sc.EgressProxy; p != nil {
		e.routed[p.Host] = true // unknown traffic goes there: it needs its cluster
	}
	for h := range e.routed {
		if svc := in.Service(h); svc != nil {
			add(svc)
		}
	}
	if whole {
		e.services = e.services[:0]
		for _, svc := range in.Services {
			if seen[svc] {
				e.services = append(e.services, svc)
			}
		}
	} else {
		slices.SortFunc(e.services, func(a, b *ir.Service) int { return cmp.Compare(a.Hostname, b.Hostname) })
	}
	return e
}

// addRouted notes the destinations of the route tables a service port takes through
// egress listener l.
func (e *Egress) addRouted(l *ir.EgressListener, svc *ir.Service, port *ir.Port) {
	if t := e.tableVia(l, svc, port, e.ns); t != nil && t.Source.Kind != "" {
		for _, r := range t.Routes {
			if r.Forward != nil {
				for _, d := range r.Forward.Destinations {
					e.routed[d.Hostname] = true
				}
			}
			for _, m := range r.Mirrors { // mirrored traffic needs its cluster too
				e.routed[ir.ClusterHost(m.Cluster)] = true
			}
		}
	}
	if t := e.l4TableVia(l, svc, port, e.ns); t != nil {
		for _, r := range append(t.TLS[:len(t.TLS):len(t.TLS)], t.TCP...) {
			for _, d := range r.Destinations {
				e.routed[d.Hostname] = true
			}
		}
	}
}

// candidates calls add with the services an egress host may import (a superset:
// which of their ports are imported is decided per port), and reports whether it
// walked every service of the mesh.
func (e *Egress) candidates(in *ir.IR, h ir.EgressHost, add func(*ir.Service)) bool {
	var pool []*ir.Service
	whole := false
	switch h.Namespace {
	case "~":
		return false
	case ".":
		pool = in.ServicesIn(e.ns)
	case "*":
		if !strings.HasPrefix(h.Host, "*") {
			if svc := in.Service(h.Host); svc != nil {
				add(svc)
			}
			return false
		}
		pool, whole = in.Services, true
	default:
		pool = in.ServicesIn(h.Namespace)
	}
	for _, svc := range pool {
		if ir.HostMatches(h.Host, svc.Hostname) {
			add(svc)
		}
	}
	return whole
}

// Services are the services a scope is configured for, in the IR's order: those
// exported to the client (VisibleServices) without a Sidecar, else those its
// Sidecar imports or routes to.
func (e *Egress) Services(in *ir.IR, scope Scope) []*ir.Service {
	if e == nil {
		return VisibleServices(in, scope)
	}
	return e.services
}

// Sidecar is the Sidecar the Egress comes from (nil for a nil Egress).
func (e *Egress) Sidecar() *ir.Sidecar {
	if e == nil {
		return nil
	}
	return e.sidecar
}

// Key identifies what the Egress imports ("" for a nil Egress): what a generator
// renders for a scope depends on it (Memo.Depends).
func (e *Egress) Key() string {
	if e == nil {
		return ""
	}
	return e.sidecar.Key
}

// Fallback is the cluster a scope's sidecars send unknown destinations to: the
// PassthroughCluster (passthrough, under ALLOW_ANY), the Sidecar's egress proxy, or
// blackHole under REGISTRY_ONLY (its Sidecar's outbound mode, else the Mesh's).
func Fallback(in *ir.IR, e *Egress, passthrough, blackHole string) string {
	switch {
	case RegistryOnly(in, e):
		return blackHole
	case e != nil && e.sidecar.EgressProxy != nil:
		return e.sidecar.EgressProxy.Cluster()
	}
	return passthrough
}

// RegistryOnly reports whether a scope's sidecars block unknown destinations rather
// than pass them through: its Sidecar's outboundTrafficPolicy, else the Mesh's.
func RegistryOnly(in *ir.IR, e *Egress) bool {
	if e != nil && e.sidecar.OutboundPolicy != "" {
		return e.sidecar.OutboundPolicy == string(networkingv1.OutboundRegistryOnly)
	}
	return in.RegistryOnly
}

// Listens reports whether sidecars of the scope listen for a service port (an egress
// listener imports it): it gets its listener or virtual host and its clusters.
func (e *Egress) Listens(svc *ir.Service, port *ir.Port) bool {
	return e == nil || e.listenerOf(svc, port) != nil
}

// SocketOf is the first of the Sidecar's Unix domain socket listeners that imports
// svc, nil for none. Proxyless clients dial no socket: istiod's gRPC generator takes
// every service of the sidecar scope, those a socket listener imports included, and
// so do meshd's, with the route tables that listener imports.
func (e *Egress) SocketOf(svc *ir.Service) *ir.EgressListener {
	if e == nil {
		return nil
	}
	for _, l := range e.sidecar.Egress {
		if l.Socket != "" && l.Imports(e.ns, svc.Namespace, svc.Hostname) {
			return l
		}
	}
	return nil
}

// Routed reports whether a route table the scope imports sends traffic to the
// service, or a Unix domain socket listener imports it: it then gets its clusters,
// though no port's listener or virtual host of its own (Istio's sidecar scope adds
// route destinations so the routes have clusters).
func (e *Egress) Routed(svc *ir.Service) bool { return e == nil || e.routed[svc.Hostname] }

// listenerOf is the egress listener that imports a service port, nil when none does:
// its VirtualServices are the ones the port takes. The listener naming the port
// decides; the catch-all gives way to it where the two would share an Envoy listener
// (0.0.0.0_<port> for HTTP and for services without an address), as Istio locks the
// listeners of ports named explicitly.
func (e *Egress) listenerOf(svc *ir.Service, port *ir.Port) *ir.EgressListener {
	dedicated, catchAll := e.sidecar.Listeners(port.Number)
	switch {
	case dedicated != nil && dedicated.Imports(e.ns, svc.Namespace, svc.Hostname):
		return dedicated
	case catchAll == nil || !catchAll.Imports(e.ns, svc.Namespace, svc.Hostname):
		return nil
	case dedicated == nil || (!model.Protocol(port.Protocol).CarriesHTTPRoutes() && len(svc.Addresses) > 0):
		return catchAll
	}
	return nil
}

// Protocol is the protocol a scope's sidecars take a service port's traffic as: the
// one the Sidecar's egress listener for the port declares, else the port's own.
func (e *Egress) Protocol(svc *ir.Service, port *ir.Port) string {
	if e != nil {
		if l := e.listenerOf(svc, port); l != nil && l.Port != 0 && l.Protocol != "" {
			return l.Protocol
		}
	}
	return port.Protocol
}

// takes reports whether a route table from an object of source's namespace applies
// to a service taken through egress listener l (nil: none): every visible one without
// a Sidecar; under one, Istio takes a VirtualService only from a namespace, and for a
// host, that the listener names.
func (e *Egress) takes(l *ir.EgressListener, source ir.ConfigRef, svc *ir.Service) bool {
	return e == nil || (l != nil && l.Imports(e.ns, source.Namespace, svc.Hostname))
}

// portListener is listenerOf for a scope that may have no Sidecar (nil).
func (e *Egress) portListener(svc *ir.Service, port *ir.Port) *ir.EgressListener {
	if e == nil {
		return nil
	}
	return e.listenerOf(svc, port)
}

// tableVia is the HTTP route table a client in namespace ns uses for a service port
// taken through egress listener l: the first visible one the scope takes, else the
// port's default route.
func (e *Egress) tableVia(l *ir.EgressListener, svc *ir.Service, port *ir.Port, ns string) *ir.RouteTable {
	for _, t := range port.RouteTables {
		if t.ExportTo.VisibleTo(ns) && e.takes(l, t.Source, svc) {
			return t
		}
	}
	return port.Default
}

// l4TableVia is the tcp/tls table a client in namespace ns uses for a service port
// taken through egress listener l, nil for none.
func (e *Egress) l4TableVia(l *ir.EgressListener, svc *ir.Service, port *ir.Port, ns string) *ir.L4Table {
	for _, t := range port.L4Tables {
		if t.ExportTo.VisibleTo(ns) && e.takes(l, t.Source, svc) {
			return t
		}
	}
	return nil
}

// SocketTable is the HTTP route table a client in scope uses for a service port taken
// through the Sidecar's Unix domain socket listener l, without the matches that select
// other clients.
func SocketTable(e *Egress, l *ir.EgressListener, svc *ir.Service, port *ir.Port, scope Scope) *ir.RouteTable {
	return scopedTable(e.tableVia(l, svc, port, scope.Namespace), scope)
}

// SocketL4Table is the tcp/tls table a client in namespace ns uses for a service port
// taken through the Sidecar's Unix domain socket listener l.
func SocketL4Table(e *Egress, l *ir.EgressListener, svc *ir.Service, port *ir.Port, ns string) *ir.L4Table {
	return e.l4TableVia(l, svc, port, ns)
}

// SidecarTable is the HTTP route table a client in scope uses for a service port
// under its Sidecar (e; nil for none), without the matches that select other clients.
func SidecarTable(e *Egress, svc *ir.Service, port *ir.Port, scope Scope) *ir.RouteTable {
	return scopedTable(e.tableVia(e.portListener(svc, port), svc, port, scope.Namespace), scope)
}

// SidecarL4Table is the tcp/tls table a client in namespace ns uses for a service port
// under its Sidecar (e; nil for none).
func SidecarL4Table(e *Egress, svc *ir.Service, port *ir.Port, ns string) *ir.L4Table {
	return e.l4TableVia(e.portListener(svc, port), svc, port, ns)
}
