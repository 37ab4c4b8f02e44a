package sidecargen

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// tcpListeners renders a listener per non-HTTP service port: <vip>_<port>, or
// 0.0.0.0_<port> for a headless service when no HTTP port claims that number (the
// first service by name wins it). Its filter chains come from the tls and tcp routes the
// client uses; the default chain forwards to the port's own cluster.
func (g *generator) tcpListeners() []*listenerv3.Listener {
	var out []*listenerv3.Listener
	taken := map[string]bool{}
	ports := slices.Clone(g.tcp)
	slices.SortFunc(ports, func(a, b tcpPort) int {
		return cmp.Or(cmp.Compare(a.svc.Hostname, b.svc.Hostname), cmp.Compare(a.port.Number, b.port.Number))
	})
	for _, tp := range ports {
		ips := tp.svc.Addresses
		if len(ips) == 0 {
			if g.httpPorts[tp.port.Number] != nil {
				continue // the port number carries HTTP here; Istio reports the same conflict
			}
			ips = []string{"0.0.0.0"}
		}
		for _, ip := range ips {
			l := outboundListener(ip, tp.port.Number)
			if taken[l.Name] {
				continue
			}
			taken[l.Name] = true
			g.l4Chains(l, tp, render.SidecarL4Table(g.egress, tp.svc, tp.port, g.scope.Namespace))
			out = append(out, l)
		}
	}
	return out
}

// l4Chains fills a TCP listener from the client's l4 table (nil: none): a chain per tls match (by
// SNI) on TLS and HTTPS ports, then a chain per tcp match; a route with no match left
// becomes the default chain, and without one the default goes to the port's cluster.
// A chain whose match an earlier chain already has is unreachable and left out, since
// Envoy rejects duplicate matches.
func (g *generator) l4Chains(l *listenerv3.Listener, tp tcpPort, table *ir.L4Table) {
	own := ir.ClusterName(tp.port.Number, "", tp.svc.Hostname)
	stat := fmt.Sprintf("outbound|%d||%s", tp.port.Number, tp.svc.Hostname)
	var seen []*listenerv3.FilterChainMatch
	add := func(m *listenerv3.FilterChainMatch, dests []*ir.Destination) {
		if l.DefaultFilterChain != nil {
			return
		}
		chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{render.TCPProxy(stat, dests)}}
		if m == nil || proto.Equal(m, &listenerv3.FilterChainMatch{}) {
			chain.Name = "default"
			l.DefaultFilterChain = chain
			return
		}
		for _, s := range seen {
			if proto.Equal(s, m) {
				return
			}
		}
		seen = append(seen, m)
		chain.Name = fmt.Sprintf("%d", len(seen))
		chain.FilterChainMatch = m
		l.FilterChains = append(l.FilterChains, chain)
	}
	if table != nil {
		if (tp.port.Protocol == "TLS" || tp.port.Protocol == "HTTPS") && len(table.TLS) > 0 {
			l.ListenerFilters = []*listenerv3.ListenerFilter{render.TLSInspector()}
			for _, r := range table.TLS {
				for _, m := range g.clientMatches(r.Matches) {
					add(&listenerv3.FilterChainMatch{ServerNames: m.SNIHosts, PrefixRanges: cidrs(m.DestinationSubnets)}, r.Destinations)
				}
			}
		}
		for _, r := range table.TCP {
			if len(r.Matches) == 0 {
				add(nil, r.Destinations)
				continue
			}
			for _, m := range g.clientMatches(r.Matches) {
				add(&listenerv3.FilterChainMatch{PrefixRanges: cidrs(m.DestinationSubnets)}, r.Destinations)
			}
		}
	}
	if l.DefaultFilterChain == nil {
		l.DefaultFilterChain = &listenerv3.FilterChain{Name: "default", Filters: []*listenerv3.Filter{render.TCPTo(stat, own)}}
	}
	// Envoy needs at least one filter chain besides the default.
	if len(l.FilterChains) == 0 {
		l.FilterChains = []*listenerv3.FilterChain{l.DefaultFilterChain}
		l.DefaultFilterChain = nil
	}
}

// clientMatches keeps the matches a client in scope satisfies (sourceNamespace,
// sourceLabels).
func (g *generator) clientMatches(ms []*ir.L4Match) []*ir.L4Match {
	var out []*ir.L4Match
	for _, m := range ms {
		if g.scope.SelectsClient(m.SourceNamespace, m.SourceLabels) {
			out = append(out, m)
		}
	}
	return out
}

// cidrs parses destinationSubnets: a CIDR or a bare address (a host range).
func cidrs(subnets []string) []*corev3.CidrRange {
	var out []*corev3.CidrRange
	for _, s := range subnets {
		if !strings.Contains(s, "/") {
			out = append(out, hostRange(s))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue // validation rejects these before translation
		}
		out = append(out, &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	return out
}
