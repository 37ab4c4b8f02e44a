package sidecargen

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// The virtual hosts that take HTTP requests for destinations the sidecar does not
// know: allow_any sends them out as they are (Istio's default outboundTrafficPolicy,
// ALLOW_ANY), block_all refuses them (REGISTRY_ONLY).
const (
	allowAny = "allow_any"
	blockAll = "block_all"
)

// outboundDefault is where connections no listener claims go: out as they are, to
// the Sidecar's egress proxy, or, under REGISTRY_ONLY (the scope's Sidecar's or the
// Mesh's), nowhere.
func (g *generator) outboundDefault() string {
	return render.Fallback(g.in, g.egress, PassthroughCluster, BlackHoleCluster)
}

// virtualOutbound receives every intercepted outbound connection and hands it to the
// listener of its original destination; what no listener claims goes to fallback.
func virtualOutbound(fallback string) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             VirtualOutbound,
		Address:          render.SocketAddress("0.0.0.0", OutboundPort),
		UseOriginalDst:   wrapperspb.Bool(true),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		DefaultFilterChain: &listenerv3.FilterChain{
			Name:    fallback,
			Filters: []*listenerv3.Filter{render.TCPTo(fallback, fallback)},
		},
	}
}

// outboundListener is a listener virtualOutbound hands connections to; it binds no
// socket of its own.
func outboundListener(ip string, port uint32) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             fmt.Sprintf("%s_%d", ip, port),
		Address:          render.SocketAddress(ip, port),
		BindToPort:       wrapperspb.Bool(false),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
	}
}

// httpListeners renders one 0.0.0.0_<port> listener per HTTP port, routing by RDS. On a
// sniffed port, connections that do not speak HTTP go to the service whose address
// they dialled, or pass through.
func (g *generator) httpListeners() []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, n := range slices.Sorted(maps.Keys(g.httpPorts)) {
		hp := g.httpPorts[n]
		l := outboundListener("0.0.0.0", n)
		rds := strconv.FormatUint(uint64(n), 10)
		hcm := &listenerv3.FilterChain{
			Name:    "http",
			Filters: []*listenerv3.Filter{render.RDSConnectionManager(fmt.Sprintf("outbound_0.0.0.0_%d", n), rds)},
		}
		if !hp.sniffed {
			l.FilterChains = []*listenerv3.FilterChain{hcm}
			out = append(out, l)
			continue
		}
		hcm.FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: plaintextHTTP}
		l.ListenerFilters = []*listenerv3.ListenerFilter{render.HTTPInspector()}
		l.FilterChains = []*listenerv3.FilterChain{hcm}
		for _, h := range hp.hosts {
			for _, ip := range h.svc.Addresses {
				l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
					Name:             ir.ClusterName(n, "", h.svc.Hostname),
					FilterChainMatch: &listenerv3.FilterChainMatch{PrefixRanges: []*corev3.CidrRange{hostRange(ip)}},
					Filters:          []*listenerv3.Filter{render.TCPTo(ir.ClusterName(n, "", h.svc.Hostname), ir.ClusterName(n, "", h.svc.Hostname))},
				})
			}
		}
		fallback := g.outboundDefault()
		l.DefaultFilterChain = &listenerv3.FilterChain{Name: fallback, Filters: []*listenerv3.Filter{render.TCPTo(fallback, fallback)}}
		out = append(out, l)
	}
	return out
}

// boundListeners are the listeners of the Sidecar's egress listeners that have an
// address of their own (bind, or captureMode NONE): at Bind:Port, bound by Envoy when
// the traffic is not captured. An HTTP one routes by the port's route configuration
// (the port's hosts are the listener's: it is the one naming the port); a TCP one
// forwards, as the service's own listener would, to the first service by name it
// imports on the port.
func (g *generator) boundListeners() []*listenerv3.Listener {
	sc := g.egress.Sidecar()
	if sc == nil {
		return nil
	}
	var out []*listenerv3.Listener
	for _, el := range sc.Egress {
		if el.Bind == "" || el.Port == 0 {
			continue
		}
		l := outboundListener(el.Bind, el.Port)
		if el.Bound {
			l.BindToPort = nil // Envoy's default: bind the address
		}
		switch hp := g.httpPorts[el.Port]; {
		case hp != nil && model.Protocol(el.Protocol).CarriesHTTPRoutes():
			l.FilterChains = []*listenerv3.FilterChain{{Name: "http", Filters: []*listenerv3.Filter{
				render.RDSConnectionManager(fmt.Sprintf("outbound_%s_%d", el.Bind, el.Port), strconv.FormatUint(uint64(el.Port), 10))}}}
		default:
			tp, ok := g.tcpImportedBy(el)
			if !ok {
				continue // nothing to forward to
			}
			g.l4Chains(l, tp, render.SidecarL4Table(g.egress, tp.svc, tp.port, g.scope.Namespace))
		}
		out = append(out, l)
	}
	return out
}

// tcpImportedBy is the first service port by hostname (the order services are walked
// in), of the non-HTTP ports, that an egress listener imports on its port.
func (g *generator) tcpImportedBy(el *ir.EgressListener) (tcpPort, bool) {
	for _, tp := range g.tcp {
		if tp.port.Number == el.Port && el.Imports(g.scope.Namespace, tp.svc.Namespace, tp.svc.Hostname) {
			return tp, true
		}
	}
	return tcpPort{}, false
}

// routeConfigs renders the route configuration "<port>" of each HTTP port: one virtual
// host per service, answering to every name a client in scope can dial it by, and
// allow_any for the rest.
func (g *generator) routeConfigs() []*routev3.RouteConfiguration {
	var out []*routev3.RouteConfiguration
	for _, n := range slices.Sorted(maps.Keys(g.httpPorts)) {
		rc := &routev3.RouteConfiguration{
			Name: strconv.FormatUint(uint64(n), 10),
			// Routes may name clusters of hosts this scope cannot see; Envoy answers
			// those with 503 rather than rejecting the whole configuration.
			ValidateClusters: wrapperspb.Bool(false),
			// A Host header's port does not decide the virtual host (the listener's
			// port already did), so domains need no "name:port" twins; istiod's
			// sidecars match the same way. The twins were a quarter of a large
			// mesh's route configuration, sent to every sidecar on every change.
			IgnorePortInHostMatching: true,
		}
		hosts := g.httpPorts[n].hosts
		suffix := ":" + rc.Name
		slices.SortFunc(hosts, func(a, b httpHost) int { return cmp.Compare(a.svc.Hostname, b.svc.Hostname) })
		for _, h := range hosts {
			rc.VirtualHosts = append(rc.VirtualHosts, render.Memoized(g.memo, h.svc, n, render.PartVirtualHost, func() *routev3.VirtualHost {
				v := new(virtualHost)
				v.vh.Name = h.svc.Hostname + suffix
				v.vh.Domains = domains(v.domains[:0], h.svc, g.scope.Namespace)
				v.vh.Routes = render.Routes(render.SidecarTable(g.egress, h.svc, h.port, g.scope).Routes, g.find, render.Envoy)
				return &v.vh
			}))
		}
		// allow_any depends on nothing: memoized under no service, so an unchanged
		// route configuration is the same list of memoized virtual hosts (the memo
		// starts afresh when the scope's Sidecar changes, block_all with it).
		rc.VirtualHosts = append(rc.VirtualHosts, render.Memoized(g.memo, nil, n, render.PartVirtualHost, g.catchAllHost))
		out = append(out, rc)
	}
	return out
}

// catchAllHost is the virtual host for hosts the sidecar does not know: block_all
// under REGISTRY_ONLY, else allow_any to the scope's outbound default.
func (g *generator) catchAllHost() *routev3.VirtualHost {
	if g.registryOnly {
		return blockAllHost()
	}
	return allowAnyHost(g.outboundDefault())
}

// allowAnyHost sends requests for hosts the sidecar does not know to cluster: out as
// they are (PassthroughCluster), or to the Sidecar's egress proxy.
func allowAnyHost(cluster string) *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name: allowAny, Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:  allowAny,
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
				Timeout:          durationpb.New(0),
			}},
		}},
	}
}

// blockAllHost refuses requests for hosts the sidecar does not know, as Istio's
// REGISTRY_ONLY does: 502, without leaving the proxy.
func blockAllHost() *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name: blockAll, Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:   blockAll,
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 502}},
		}},
	}
}

// virtualHost is a service's virtual host and room for its domains, allocated
// together: a service of one address has five.
type virtualHost struct {
	vh      routev3.VirtualHost
	domains [5]string
}

// domains appends to names the names a client in namespace ns reaches a service by:
// the FQDN, the shorter names its DNS search path completes (name.namespace,
// name.namespace.svc, and the bare name from the service's own namespace), and the
// service's addresses. The route configuration ignores the Host header's port.
func domains(names []string, svc *ir.Service, ns string) []string {
	names = append(names, svc.Hostname)
	// name.namespace.svc.<domain>: the short names are prefixes of the hostname, taken
	// as they are rather than built anew for every service in every scope.
	h := svc.Hostname
	if name, rest, ok := strings.Cut(h, "."); ok {
		if svcNS, rest, ok := strings.Cut(rest, "."); ok && strings.HasPrefix(rest, "svc.") {
			names = append(names, h[:len(name)+1+len(svcNS)], h[:len(name)+1+len(svcNS)+4])
			if svcNS == ns {
				names = append(names, name)
			}
		}
	}
	return append(names, svc.Addresses...)
}

// hostRange is a /32 (or /128) range for one address.
func hostRange(ip string) *corev3.CidrRange {
	bits := uint32(32)
	if strings.Contains(ip, ":") {
		bits = 128
	}
	return &corev3.CidrRange{AddressPrefix: ip, PrefixLen: wrapperspb.UInt32(bits)}
}
