// Package sidecargen renders the IR as xDS for Envoy sidecars, with Istio's names so
// Istio's sidecar bootstrap and tooling work unchanged:
//
//   - virtualOutbound (15001) hands each intercepted connection to the listener of its
//     original destination: 0.0.0.0_<port> for HTTP ports (routes from RDS "<port>",
//     one virtual host per service), <vip>_<port> for TCP and TLS ports (filter chains
//     from tcp and tls routes), else the PassthroughCluster;
//   - virtualInbound (15006) takes mesh mTLS (Istio's ALPN, the workload certificate
//     from the agent's SDS), plaintext HTTP and plaintext TCP and passes them to the
//     application;
//   - clusters outbound|<port>|<subset>|<fqdn> with the DestinationRule's policy and
//     auto-mTLS, plus PassthroughCluster, BlackHoleCluster and InboundPassthroughCluster.
//
// Config depends only on the client's scope, so every sidecar of a scope shares it. It
// is pure, and output is sorted by name.
package sidecargen

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// Istio's listener and cluster names and ports.
const (
	VirtualOutbound           = "virtualOutbound"
	VirtualInbound            = "virtualInbound"
	OutboundPort              = 15001
	InboundPort               = 15006
	PassthroughCluster        = "PassthroughCluster"
	BlackHoleCluster          = "BlackHoleCluster"
	InboundPassthroughCluster = "InboundPassthroughCluster"
	// inboundPassthroughSource is the address Istio binds inbound passthrough
	// connections to, so iptables does not capture them again.
	inboundPassthroughSource = "127.0.0.6"
)

// Generate renders the config a sidecar in scope sees, sorted by name.
func Generate(in *ir.IR, scope render.Scope) *render.Resources {
	out := GenerateWith(in, scope, nil)
	slices.SortFunc(out.Listeners, func(a, b *listenerT) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Routes, func(a, b *routeConfigT) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Clusters, func(a, b *clusterT) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.EDS, func(a, b *render.EDSCluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// portClusters are the clusters of one service port.
type portClusters struct {
	clusters []*clusterT
	eds      []render.EDSCluster
}

// GenerateWith is Generate reusing, through memo, what was rendered for services the
// IR carries over unchanged: their clusters and virtual hosts. Its output is in the
// order it is generated (by service, then port), which is deterministic but not by
// name: the xDS cache, its one user, keys resources by name, and sorting thousands
// of cluster names would cost more than the rest of a one-service change.
func GenerateWith(in *ir.IR, scope render.Scope, memo *render.Memo) *render.Resources {
	egress := render.EgressFor(in, scope)
	registryOnly := render.RegistryOnly(in, egress)
	// The catch-all virtual host depends on no service: memoized renderings are
	// reused only under the same Sidecar and outbound policy.
	memo.Depends(strconv.FormatBool(registryOnly) + ";" + egress.Key())
	g := &generator{in: in, scope: scope, egress: egress, registryOnly: registryOnly, find: render.LookupFor(in, scope), httpPorts: map[uint32]*httpPort{}, memo: memo}
	// The clusters of every port are collected first and copied once into slices of
	// their exact size: appending them grew the slices (a thousand services have three
	// thousand subset clusters) and copied every one several times, a sixth of what
	// regenerating a scope for one change allocated.
	var parts []portClusters
	clusters, eds := 3, 0
	services := egress.Services(in, scope)
	for _, svc := range services {
		for _, port := range svc.Ports {
			listens := egress.Listens(svc, port)
			if !listens && !egress.Routed(svc) {
				continue // the scope's Sidecar leaves it out
			}
			pc := render.Memoized(memo, svc, port.Number, render.PartClusters, func() portClusters {
				clusters, eds := render.ServiceClusters(svc, port, scope.Policy(in, svc), render.Envoy)
				return portClusters{clusters, eds}
			})
			parts = append(parts, pc)
			clusters, eds = clusters+len(pc.clusters), eds+len(pc.eds)
			if !listens {
				continue // a route's destination: clusters only
			}
			if protocol := egress.Protocol(svc, port); model.Protocol(protocol).CarriesHTTPRoutes() {
				g.addHTTP(svc, port, protocol)
			} else {
				g.addTCP(svc, port)
			}
		}
	}
	out := &render.Resources{Clusters: make([]*clusterT, 0, clusters), EDS: make([]*render.EDSCluster, 0, eds), Services: services}
	for _, pc := range parts {
		out.Clusters = append(out.Clusters, pc.clusters...)
		out.EDS = render.AppendEDS(out.EDS, pc.eds)
	}
	out.Listeners = append(out.Listeners, g.httpListeners()...)
	out.Listeners = append(out.Listeners, g.tcpListeners()...)
	boundOutbound := g.boundListeners()
	out.Listeners = append(out.Listeners, boundOutbound...)
	sockets, socketRoutes := g.socketListeners()
	out.Listeners = append(out.Listeners, sockets...)
	sidecar := egress.Sidecar()
	inbound, boundInbound, ingress := virtualInbound(render.WorkloadMTLS(in, scope), render.WorkloadAuthz(in, scope), sidecar)
	out.Listeners = append(out.Listeners, virtualOutbound(g.outboundDefault()), inbound)
	out.Listeners = append(out.Listeners, boundInbound...)
	if len(boundOutbound)+len(boundInbound) > 0 {
		out.Listeners = onePerAddress(out.Listeners)
	}
	out.Routes = append(g.routeConfigs(), socketRoutes...)
	inboundPassthrough := passthroughCluster(InboundPassthroughCluster, inboundPassthroughSource)
	if sidecar != nil && sidecar.InboundPool != nil {
		render.InboundCluster(inboundPassthrough, "", sidecar.InboundPool) // the protocol stays the caller's
	}
	out.Clusters = append(out.Clusters, passthroughCluster(PassthroughCluster, ""), inboundPassthrough, blackHoleCluster())
	out.Clusters = append(out.Clusters, ingress...)
	return out
}

// onePerAddress keeps one listener per address, as Envoy requires: the one binding it
// (a Sidecar's listener for traffic that is not captured: the application talks to
// it), else the first. Only listeners at a Sidecar's addresses can share one.
func onePerAddress(ls []*listenerT) []*listenerT {
	type address struct {
		ip, pipe string
		port     uint32
	}
	addressOf := func(l *listenerT) address {
		sa := l.GetAddress().GetSocketAddress()
		return address{sa.GetAddress(), l.GetAddress().GetPipe().GetPath(), sa.GetPortValue()}
	}
	binds := func(l *listenerT) bool { return l.BindToPort == nil || l.BindToPort.GetValue() }
	keep := make(map[address]*listenerT, len(ls))
	for _, l := range ls {
		a := addressOf(l)
		if k, ok := keep[a]; !ok || (binds(l) && !binds(k)) {
			keep[a] = l
		}
	}
	out := ls[:0]
	for _, l := range ls {
		if keep[addressOf(l)] == l {
			out = append(out, l)
		}
	}
	return out
}

// generator collects, while walking the visible services, what each listener needs.
type generator struct {
	in    *ir.IR
	scope render.Scope
	// egress is what the scope's Sidecar lets it reach (nil: no Sidecar applies);
	// registryOnly says unknown destinations are blocked (REGISTRY_ONLY).
	egress       *render.Egress
	registryOnly bool
	find         render.Lookup
	// httpPorts are the service ports that carry HTTP, by port number: they share a
	// 0.0.0.0_<port> listener and the route configuration "<port>".
	httpPorts map[uint32]*httpPort
	// tcp are the non-HTTP service ports, each with its own listener.
	tcp []tcpPort
	// memo holds what earlier generations rendered per service port.
	memo *render.Memo
}

type httpPort struct {
	number uint32
	// sniffed is true when some service's port has no declared protocol: the listener
	// then also takes raw TCP, as Istio's protocol sniffing does.
	sniffed bool
	hosts   []httpHost
}

type httpHost struct {
	svc  *ir.Service
	port *ir.Port
}

type tcpPort struct {
	svc  *ir.Service
	port *ir.Port
}

// addHTTP adds a service port the scope takes as protocol (its own, or its Sidecar's
// egress listener's).
func (g *generator) addHTTP(svc *ir.Service, port *ir.Port, protocol string) {
	hp := g.httpPorts[port.Number]
	if hp == nil {
		hp = &httpPort{number: port.Number}
		g.httpPorts[port.Number] = hp
	}
	hp.sniffed = hp.sniffed || protocol == string(model.ProtocolUnknown)
	hp.hosts = append(hp.hosts, httpHost{svc: svc, port: port})
}

func (g *generator) addTCP(svc *ir.Service, port *ir.Port) {
	g.tcp = append(g.tcp, tcpPort{svc: svc, port: port})
}
