// Package waypointgen renders an ambient waypoint's xDS: the Envoy behind an
// istio-waypoint Gateway, which applies L7 routing and authorization for the services
// that use it (istio.io/use-waypoint), with Istio's names:
//
//   - connect_terminate on 0.0.0.0:15008 ends HBONE tunnels and passes each stream to
//     the main_internal internal listener, addressed as the tunnel said;
//   - main_internal has a filter chain per served service VIP and port,
//     "inbound-vip|<port>|http|<fqdn>" (routes by RDS of the same name, with the
//     AuthorizationPolicies that target the waypoint or the service) or
//     "inbound-vip|<port>|tcp|<fqdn>"; connections to anything else are closed;
//   - clusters of the same names (and "inbound-vip|<port>|http/<subset>|<fqdn>"
//     for DestinationRule subsets) reach the service's workloads through HBONE
//     tunnels that the connect_originate internal listener and cluster open; routes to
//     services the waypoint does not serve use their outbound clusters, tunnelled too.
//
// It is pure, and output is sorted by name.
package waypointgen

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// Generate renders the config of the proxies of the waypoint gw, whose scope is
// scope (the waypoint's namespace and name).
func Generate(in *ir.IR, scope render.Scope, gw *ir.Gateway) *render.Resources {
	w := &waypoint{in: in, scope: scope, gw: gw, out: &render.Resources{}, find: render.LookupFor(in, scope),
		byHost: map[string]*ir.Service{}, outbound: map[string]bool{}}
	for _, svc := range in.Services {
		w.byHost[svc.Hostname] = svc
	}
	main := &listenerv3.Listener{
		Name:              mainInternal,
		ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}},
		TrafficDirection:  corev3.TrafficDirection_INBOUND,
		ListenerFilters:   []*listenerv3.ListenerFilter{render.ListenerFilter(originalDstFilter, &originaldstv3.OriginalDst{})},
	}
	sniffed, known := map[uint32]bool{}, map[uint32]bool{}
	for _, svc := range in.Services {
		if !w.serves(svc) || len(svc.Addresses) == 0 {
			continue // headless services have no VIP to be addressed by
		}
		for _, port := range svc.Ports {
			main.FilterChains = append(main.FilterChains, w.serviceChains(svc, port)...)
			if port.Protocol == string(model.ProtocolUnknown) {
				sniffed[port.Number] = true
			} else {
				known[port.Number] = true
			}
		}
	}
	direct := w.directChains()
	main.FilterChains = append(main.FilterChains, direct...)
	switch {
	case len(direct) > 0:
		// Pod-addressed traffic on any port is told HTTP or TCP by what the client sends.
		main.ListenerFilters = append(main.ListenerFilters, render.HTTPInspector())
	case len(sniffed) > 0:
		main.ListenerFilters = append(main.ListenerFilters, sniffOnly(sniffed, known))
	}
	w.outboundClusters()
	out := w.out
	out.Listeners = append(out.Listeners, connectTerminateListener(in.TrustDomain), connectOriginateListener())
	if len(main.FilterChains) > 0 {
		out.Listeners = append(out.Listeners, main)
	}
	out.Clusters = append(out.Clusters, internalCluster(mainInternal, mainInternal), connectOriginateCluster(in.TrustDomain))
	if len(direct) > 0 {
		out.Clusters = append(out.Clusters, internalCluster(encap, render.ConnectOriginate))
	}
	slices.SortFunc(out.Listeners, func(a, b *listenerv3.Listener) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Routes, func(a, b *routev3.RouteConfiguration) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Clusters, func(a, b *clusterv3.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.EDS, func(a, b *render.EDSCluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

type waypoint struct {
	in    *ir.IR
	scope render.Scope
	gw    *ir.Gateway
	out   *render.Resources
	find  render.Lookup
	// byHost finds services; outbound collects the outbound clusters routes send to
	// (services the waypoint does not serve).
	byHost   map[string]*ir.Service
	outbound map[string]bool
}

// serves reports whether the waypoint handles svc's traffic (translation binds a
// service only to a waypoint that takes service traffic).
func (w *waypoint) serves(svc *ir.Service) bool {
	return svc.Waypoint != nil && svc.Waypoint.Namespace == w.gw.Namespace && svc.Waypoint.Name == w.gw.Name
}

// chainName is Istio's name of a waypoint's chain (and cluster) for a service port;
// kind is "http" or "tcp", with "/<subset>" for a subset's cluster.
func chainName(port uint32, kind, host string) string {
	return fmt.Sprintf("inbound-vip|%d|%s|%s", port, kind, host)
}

// serviceChains renders the chains of one served service port: HTTP ports route and
// authorize requests, TCP ports connections; ports of unknown protocol get both, the
// HTTP one for clients that speak HTTP.
func (w *waypoint) serviceChains(svc *ir.Service, port *ir.Port) []*listenerv3.FilterChain {
	match := func() *listenerv3.FilterChainMatch {
		m := &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port.Number)}
		for _, a := range svc.Addresses {
			m.PrefixRanges = append(m.PrefixRanges, &corev3.CidrRange{AddressPrefix: a, PrefixLen: wrapperspb.UInt32(hostBits(a))})
		}
		return m
	}
	authz := render.WaypointAuthz(w.in, w.scope, svc)
	peerByFilterState(authz)
	var chains []*listenerv3.FilterChain
	proto := model.Protocol(port.Protocol)
	if proto.CarriesHTTPRoutes() {
		name := chainName(port.Number, "http", svc.Hostname)
		m := match()
		if proto == model.ProtocolUnknown {
			m.ApplicationProtocols = []string{"http/1.1", "h2c"}
		}
		chains = append(chains, &listenerv3.FilterChain{Name: name, FilterChainMatch: m,
			Filters: []*listenerv3.Filter{render.RDSConnectionManager(name, name, render.AuthzHTTPFilters(authz)...)}})
		w.out.Routes = append(w.out.Routes, w.routeConfig(name, svc, port))
		w.serviceClusters(svc, port, "http")
	}
	if !proto.CarriesHTTPRoutes() || proto == model.ProtocolUnknown {
		name := chainName(port.Number, "tcp", svc.Hostname)
		filters := append(render.AuthzNetworkFilters(authz, name), render.TCPTo(name, name))
		chains = append(chains, &listenerv3.FilterChain{Name: name, FilterChainMatch: match(), Filters: filters})
		w.serviceClusters(svc, port, "tcp")
	}
	return chains
}

// sniffOnly is the HTTP inspector for the ports of unknown protocol, which pick their
// HTTP or TCP chain by what the client speaks. It is off on the other ports: a
// server-first protocol (MySQL, SMTP) sends nothing until the server does, and the
// inspector would hold its connection until the listener filter timeout closes it.
func sniffOnly(sniffed, known map[uint32]bool) *listenerv3.ListenerFilter {
	var off []*listenerv3.ListenerFilterChainMatchPredicate
	for _, port := range slices.Sorted(maps.Keys(known)) {
		if !sniffed[port] {
			off = append(off, &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
				DestinationPortRange: &typev3.Int32Range{Start: int32(port), End: int32(port) + 1}}})
		}
	}
	f := render.ListenerFilter(render.HTTPInspectorFilter, &httpinspectorv3.HttpInspector{})
	switch len(off) {
	case 0:
	case 1:
		f.FilterDisabled = off[0]
	default:
		f.FilterDisabled = &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
			OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: off}}}
	}
	return f
}

// hostBits is the prefix length of a single address.
func hostBits(addr string) uint32 {
	if strings.Contains(addr, ":") {
		return 128
	}
	return 32
}

// routeConfig renders a served port's routes: the route table the service's own
// namespace sees (its producer routes: VirtualServices and HTTPRoutes on the Service),
// under one virtual host that takes any Host, since the VIP already chose the service.
func (w *waypoint) routeConfig(name string, svc *ir.Service, port *ir.Port) *routev3.RouteConfiguration {
	table := render.ClientTable(port, render.Scope{Namespace: svc.Namespace})
	routes := render.Routes(table.Routes, w.find, render.Envoy)
	for _, r := range routes {
		w.renameClusters(r.GetRoute())
	}
	return &routev3.RouteConfiguration{Name: name, ValidateClusters: wrapperspb.Bool(false), VirtualHosts: []*routev3.VirtualHost{{
		Name: fmt.Sprintf("inbound|http|%d", port.Number), Domains: []string{"*"}, Routes: routes}}}
}

// renameClusters points a route's destinations at the waypoint's clusters: a served
// service's "outbound|<port>|<subset>|<fqdn>" becomes its inbound-vip cluster; other
// services keep their outbound cluster, which the waypoint then renders.
func (w *waypoint) renameClusters(a *routev3.RouteAction) {
	if a == nil {
		return
	}
	if c, ok := a.ClusterSpecifier.(*routev3.RouteAction_Cluster); ok {
		c.Cluster = w.destination(c.Cluster)
	}
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		wc.Name = w.destination(wc.Name)
	}
	for _, m := range a.RequestMirrorPolicies {
		m.Cluster = w.destination(m.Cluster)
	}
}

func (w *waypoint) destination(cluster string) string {
	port, subset, host, ok := outboundName(cluster)
	if !ok {
		return cluster
	}
	if svc := w.byHost[host]; svc != nil && w.serves(svc) && len(svc.Addresses) > 0 {
		kind := "http"
		for _, p := range svc.Ports {
			if p.Number == port && !model.Protocol(p.Protocol).CarriesHTTPRoutes() {
				kind = "tcp" // its only chain and cluster
			}
		}
		if subset != "" {
			kind += "/" + subset
		}
		return chainName(port, kind, host)
	}
	w.outbound[cluster] = true
	return cluster
}

// outboundName reads an outbound cluster name, "outbound|<port>|<subset>|<fqdn>"
// (ir.ClusterName's).
func outboundName(name string) (port uint32, subset, host string, ok bool) {
	parts := strings.SplitN(name, "|", 4)
	if len(parts) != 4 || parts[0] != "outbound" {
		return 0, "", "", false
	}
	n, err := strconv.ParseUint(parts[1], 10, 32)
	return uint32(n), parts[2], parts[3], err == nil
}

// serviceClusters renders a served port's clusters (the port's and its subsets'),
// named for the waypoint, tunnelled to the workloads.
func (w *waypoint) serviceClusters(svc *ir.Service, port *ir.Port, kind string) {
	clusters, eds := render.ServiceClusters(svc, port, w.scope.Policy(w.in, svc), render.Waypoint)
	for i, c := range clusters {
		k := kind
		if _, subset, _, _ := outboundName(eds[i].Name); subset != "" {
			k += "/" + subset
		}
		name := chainName(port.Number, k, svc.Hostname)
		c.Name, eds[i].Name = name, name
		if c.EdsClusterConfig != nil { // not for PASSTHROUGH, an ORIGINAL_DST cluster
			c.EdsClusterConfig.ServiceName = name
		}
	}
	w.out.Clusters = append(w.out.Clusters, clusters...)
	w.out.EDS = render.AppendEDS(w.out.EDS, eds)
}

// outboundClusters renders the outbound clusters routes send to, tunnelled too.
func (w *waypoint) outboundClusters() {
	for _, name := range slices.Sorted(maps.Keys(w.outbound)) {
		number, _, host, _ := outboundName(name)
		svc := w.byHost[host]
		if svc == nil {
			continue
		}
		for _, port := range svc.Ports {
			if port.Number != number {
				continue
			}
			clusters, eds := render.ServiceClusters(svc, port, w.scope.Policy(w.in, svc), render.Waypoint)
			for i, c := range clusters {
				if c.Name == name {
					w.out.Clusters = append(w.out.Clusters, c)
					w.out.EDS = append(w.out.EDS, &eds[i])
				}
			}
		}
	}
}

// peerByFilterState makes authorization read the peer's identity from the filter
// state connect_terminate set: on main_internal the connection is internal, with no
// TLS peer of its own.
func peerByFilterState(a render.Authz) {
	for _, sets := range [][]render.RBACSet{a.HTTP, a.TCP} {
		for _, s := range sets {
			for _, r := range []*render.RBACRules{s.Rules, s.Shadow} {
				if r != nil {
					r.PeerFromFilterState()
				}
			}
		}
	}
	if c := a.Custom; c != nil {
		for _, r := range []*render.RBACRules{c.HTTPRules, c.TCPRules} {
			if r != nil {
				r.PeerFromFilterState()
			}
		}
	}
}
