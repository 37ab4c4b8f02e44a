// Package gatewaygen renders a Gateway API Gateway's IR as xDS for its Envoy proxies
// (Istio's "router" proxies), with Istio's names:
//
//   - a listener 0.0.0.0_<port> per port;
//   - HTTP ports route by RDS "http.<port>", one virtual host per hostname routes
//     attach with; HTTPS ports have a filter chain per listener, matched by SNI, that
//     terminates TLS with the listener's certificates (SDS kubernetes://<ns>/<name>,
//     which the agent fetches from meshd) and routes by RDS "https.<port>.<listener>";
//   - TLS passthrough ports pick a TLSRoute's backends by SNI; TCP ports forward to
//     the TCPRoute's backends;
//   - the clusters of every service visible to the Gateway's namespace, as sidecars
//     get them (DestinationRules apply).
//
// It is pure, and output is sorted by name.
package gatewaygen

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/waypointgen"
)

// Generate renders the config of the proxies of the Gateway scope.Gateway in
// scope.Namespace; nothing when no such Gateway is programmed.
func Generate(in *ir.IR, scope render.Scope) *render.Resources {
	out := &render.Resources{}
	var gw *ir.Gateway
	for _, g := range in.Gateways {
		if g.Namespace == scope.Namespace && g.Name == scope.Gateway {
			gw = g
		}
	}
	if gw == nil {
		return out
	}
	if gw.Class == ir.ClassWaypoint {
		return waypointgen.Generate(in, scope, gw)
	}
	for _, svc := range render.VisibleServices(in, scope) {
		policy := scope.Policy(in, svc)
		for _, port := range svc.Ports {
			clusters, eds := render.ServiceClusters(svc, port, policy, render.Envoy)
			out.Clusters = append(out.Clusters, clusters...)
			out.EDS = render.AppendEDS(out.EDS, eds)
		}
	}
	find := render.LookupFor(in, scope)
	// AuthorizationPolicies that select the gateway's pods or target its Gateway (or
	// its class, from the root namespace) guard every listener.
	authz := render.WorkloadAuthz(in, scope)
	httpAuthz := render.AuthzHTTPFilters(authz)
	for _, p := range gw.Ports {
		l := &listenerv3.Listener{
			Name:             fmt.Sprintf("0.0.0.0_%d", p.Number),
			Address:          render.SocketAddress("0.0.0.0", p.Number),
			TrafficDirection: corev3.TrafficDirection_INBOUND,
		}
		switch p.Protocol {
		case "HTTP":
			name := fmt.Sprintf("http.%d", p.Number)
			l.FilterChains = []*listenerv3.FilterChain{{Name: name, Filters: []*listenerv3.Filter{render.RDSConnectionManager(name, name, httpAuthz...)}}}
			out.Routes = append(out.Routes, routeConfig(name, p.Number, p.Servers, find))
		case "HTTPS":
			l.ListenerFilters = []*listenerv3.ListenerFilter{render.TLSInspector()}
			for _, s := range p.Servers {
				name := fmt.Sprintf("https.%d.%s", p.Number, s.Listener)
				l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
					Name:             name,
					FilterChainMatch: sniMatch([]string{s.Hostname}),
					TransportSocket:  terminateTLS(s.TLS, []string{"h2", "http/1.1"}),
					Filters:          []*listenerv3.Filter{render.RDSConnectionManager(name, name, httpAuthz...)},
				})
				out.Routes = append(out.Routes, routeConfig(name, p.Number, []*ir.GatewayServer{s}, find))
			}
		case "TLS":
			l.ListenerFilters = []*listenerv3.ListenerFilter{render.TLSInspector()}
			l.FilterChains = tlsChains(p, authz)
		case "TCP":
			for _, s := range p.Servers {
				for _, r := range s.L4Routes {
					if len(l.FilterChains) == 0 && len(r.Destinations) > 0 {
						stat := fmt.Sprintf("tcp.%d", p.Number)
						l.FilterChains = []*listenerv3.FilterChain{{Name: stat, Filters: streamFilters(stat, authz, r.Destinations)}}
					}
				}
			}
		}
		if len(l.FilterChains) > 0 {
			out.Listeners = append(out.Listeners, l)
		}
	}
	slices.SortFunc(out.Listeners, func(a, b *listenerv3.Listener) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Routes, func(a, b *routev3.RouteConfiguration) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Clusters, func(a, b *clusterv3.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.EDS, func(a, b *render.EDSCluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// routeConfig renders the virtual hosts of servers: one per hostname, its routes in
// the precedence order translation gave them. Hostnames several listeners share on a
// plaintext port merge, in listener order.
func routeConfig(name string, port uint32, servers []*ir.GatewayServer, find render.Lookup) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: name, ValidateClusters: wrapperspb.Bool(false)}
	hosts := 0
	for _, s := range servers {
		hosts += len(s.VirtualHosts)
	}
	byHost := make(map[string]*routev3.VirtualHost, hosts)
	rc.VirtualHosts = make([]*routev3.VirtualHost, 0, hosts)
	suffix := ":" + strconv.FormatUint(uint64(port), 10)
	for _, s := range servers {
		for _, vh := range s.VirtualHosts {
			v := byHost[vh.Hostname]
			if v == nil {
				v = newVirtualHost(vh.Hostname, vh.Hostname+suffix)
				byHost[vh.Hostname] = v
				rc.VirtualHosts = append(rc.VirtualHosts, v)
			}
			if routes := render.Routes(vh.Routes, find, render.Envoy); len(v.Routes) == 0 {
				v.Routes = routes
			} else {
				v.Routes = append(v.Routes, routes...)
			}
		}
	}
	return rc
}

// virtualHost is a virtual host and its domains, allocated together (a gateway may
// have thousands of hosts).
type virtualHost struct {
	vh      routev3.VirtualHost
	domains [2]string
}

// newVirtualHost names a host's virtual host withPort and gives it the Host values it
// answers: the hostname with and without the port ("*" alone for any host).
func newVirtualHost(host, withPort string) *routev3.VirtualHost {
	v := new(virtualHost)
	v.vh.Name = withPort
	v.domains = [2]string{host, withPort}
	v.vh.Domains = v.domains[:]
	if host == "*" {
		v.vh.Domains = v.domains[:1]
	}
	return &v.vh
}

// sniMatch matches TLS connections by SNI; an empty hostname matches any.
func sniMatch(hosts []string) *listenerv3.FilterChainMatch {
	var names []string
	for _, h := range hosts {
		if h != "" && h != "*" {
			names = append(names, h)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &listenerv3.FilterChainMatch{ServerNames: names}
}

// terminateTLS ends TLS with the listener's certificates, fetched by SDS.
func terminateTLS(t *ir.GatewayTLS, alpn []string) *corev3.TransportSocket {
	common := &tlsv3.CommonTlsContext{AlpnProtocols: alpn}
	if t != nil {
		for _, c := range t.Certificates {
			common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, render.SDSSecret(c))
		}
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: render.MustAny(ctx)}}
}

// tlsChains are a TLS port's filter chains: for passthrough listeners one per
// TLSRoute by its SNI hostnames; for terminating listeners one per listener, ending
// TLS and forwarding the stream to its route's backends. A match an earlier chain
// already has is left out, since Envoy rejects duplicate matches.
func tlsChains(p *ir.GatewayPort, authz render.Authz) []*listenerv3.FilterChain {
	var out []*listenerv3.FilterChain
	seen := map[string]bool{}
	add := func(name string, hosts []string, socket *corev3.TransportSocket, dests []*ir.Destination) {
		m := sniMatch(hosts)
		key := fmt.Sprint(m.GetServerNames())
		if seen[key] || len(dests) == 0 {
			return
		}
		seen[key] = true
		out = append(out, &listenerv3.FilterChain{Name: name, FilterChainMatch: m, TransportSocket: socket,
			Filters: streamFilters(name, authz, dests)})
	}
	for _, s := range p.Servers {
		for i, r := range s.L4Routes {
			name := fmt.Sprintf("tls.%d.%s.%d", p.Number, s.Listener, i)
			if s.TLS != nil && !s.TLS.Passthrough {
				add(name, []string{s.Hostname}, terminateTLS(s.TLS, nil), r.Destinations)
				continue
			}
			hosts := r.SNIHosts
			if len(hosts) == 0 {
				hosts = []string{s.Hostname}
			}
			add(name, hosts, nil, r.Destinations)
		}
	}
	return out
}

// streamFilters guard a TCP or TLS stream with network authorization, then forward it.
func streamFilters(stat string, authz render.Authz, dests []*ir.Destination) []*listenerv3.Filter {
	return append(render.AuthzNetworkFilters(authz, stat), render.TCPProxy(stat, dests))
}
