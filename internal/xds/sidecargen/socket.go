package sidecargen

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// socketListeners renders the Sidecar's Unix domain socket egress listeners, as
// istiod names them: a listener "<bind>_0" on the socket's path (an abstract name
// keeps its @), which the application dials instead of a service address.
//   - HTTP (the protocol the listener declares, which validation requires) routes by
//     the route configuration named after the bind, whose virtual hosts are every
//     port of every service the listener imports, told apart by the Host header's
//     port (a request for port 80 may leave it out).
//   - Anything else is a stream to the first service port the listener imports (by
//     hostname, then port), through its tcp and tls routes; a listener that imports
//     none is left out, having nowhere to send it.
func (g *generator) socketListeners() ([]*listenerv3.Listener, []*routev3.RouteConfiguration) {
	sc := g.egress.Sidecar()
	if sc == nil {
		return nil, nil
	}
	var listeners []*listenerv3.Listener
	var routes []*routev3.RouteConfiguration
	for _, el := range sc.Egress {
		if el.Socket == "" {
			continue
		}
		ports := g.socketPorts(el)
		l := &listenerv3.Listener{
			Name:             el.Socket + "_0",
			Address:          &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: strings.TrimPrefix(el.Socket, "unix://")}}},
			TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		}
		if !model.Protocol(el.Protocol).CarriesHTTPRoutes() {
			if len(ports) == 0 {
				continue
			}
			g.l4Chains(l, ports[0], render.SocketL4Table(g.egress, el, ports[0].svc, ports[0].port, g.scope.Namespace))
			listeners = append(listeners, l)
			continue
		}
		l.FilterChains = []*listenerv3.FilterChain{{Name: "http", Filters: []*listenerv3.Filter{render.RDSConnectionManager("outbound_"+el.Socket, el.Socket)}}}
		listeners = append(listeners, l)
		routes = append(routes, g.socketRoutes(el, ports))
	}
	return listeners, routes
}

// socketPorts are the service ports a Unix domain socket listener imports: every port
// of every service its hosts name, by hostname, then port.
func (g *generator) socketPorts(el *ir.EgressListener) []tcpPort {
	var out []tcpPort
	for _, svc := range g.egress.Services(g.in, g.scope) {
		if !el.Imports(g.scope.Namespace, svc.Namespace, svc.Hostname) {
			continue
		}
		for _, port := range svc.Ports {
			out = append(out, tcpPort{svc: svc, port: port})
		}
	}
	slices.SortFunc(out, func(a, b tcpPort) int {
		return cmp.Or(cmp.Compare(a.svc.Hostname, b.svc.Hostname), cmp.Compare(a.port.Number, b.port.Number))
	})
	return out
}

// socketRoutes is the route configuration of an HTTP Unix domain socket listener,
// named after its bind: a virtual host per imported service port, answering to the
// names a client in scope dials it by with the port (and without it for port 80,
// which HTTP clients leave out), then the scope's catch-all. Unlike a port's route
// configuration, the Host header's port decides here: one socket carries every port.
func (g *generator) socketRoutes(el *ir.EgressListener, ports []tcpPort) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: el.Socket, ValidateClusters: wrapperspb.Bool(false)}
	for _, p := range ports {
		port := strconv.FormatUint(uint64(p.port.Number), 10)
		vh := &routev3.VirtualHost{Name: p.svc.Hostname + ":" + port,
			Routes: render.Routes(render.SocketTable(g.egress, el, p.svc, p.port, g.scope).Routes, g.find, render.Envoy)}
		for _, name := range domains(nil, p.svc, g.scope.Namespace) {
			if strings.Contains(name, ":") {
				name = "[" + name + "]" // an IPv6 address
			}
			if p.port.Number == 80 {
				vh.Domains = append(vh.Domains, name)
			}
			vh.Domains = append(vh.Domains, fmt.Sprintf("%s:%s", name, port))
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	rc.VirtualHosts = append(rc.VirtualHosts, g.catchAllHost())
	return rc
}
