package sidecargen

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// Inbound names.
const (
	inboundRoute = "inbound|http|0"
)

// istioHTTPALPN is what a sidecar offers for mesh mTLS carrying HTTP; plain "istio"
// (or istio-peer-exchange) marks TCP.
var istioHTTPALPN = []string{"istio-http/1.0", "istio-http/1.1", "istio-h2"}

// virtualInbound receives every intercepted inbound connection and enforces the
// workload's PeerAuthentication and AuthorizationPolicies:
//   - mesh mTLS, recognised by Istio's ALPN, is terminated with the workload's
//     certificate and the peer's verified against the mesh roots (STRICT and
//     PERMISSIVE);
//   - plaintext is accepted only in PERMISSIVE and DISABLE;
//   - HTTP (by ALPN or inspection) goes through an HTTP connection manager with an RBAC
//     filter per action (DENY, AUDIT, ALLOW); other traffic through network RBAC;
//   - ports with their own mode (portLevelMtls) get their own chains.
//
// The application always gets the connection from 127.0.0.6, as with Istio.
//
// A Sidecar's ingress listeners take their ports as ingress.go says, each to its own
// cluster, which virtualInbound returns with the listener; those whose traffic is
// not captured (captureMode NONE) get listeners of their own, bound to their
// address, returned too.
func virtualInbound(mtls render.MTLS, authz render.Authz, sc *ir.Sidecar) (*listenerv3.Listener, []*listenerv3.Listener, []*clusterv3.Cluster) {
	l := &listenerv3.Listener{
		Name:             VirtualInbound,
		Address:          render.SocketAddress("0.0.0.0", InboundPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{originalDst(), render.TLSInspector(), render.HTTPInspector()},
	}
	// Every chain carries the same filters: build (and marshal) them once, not per
	// chain; with many policies they are most of the listener's cost.
	stat := fmt.Sprintf("inbound_0.0.0.0_%d", InboundPort)
	f := inboundFilters{http: []*listenerv3.Filter{inboundHTTP(stat, authz, InboundPassthroughCluster, inboundRoute)}, tcp: inboundTCP(stat, authz, InboundPassthroughCluster),
		tls: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: render.MustAny(meshServerTLS())},
		}}
	var clusters []*clusterv3.Cluster
	var bound []*listenerv3.Listener
	taken := map[uint32]bool{}
	if sc != nil {
		for _, in := range sc.Ingress {
			mode, ok := mtls.Ports[in.Port]
			if !ok {
				mode = mtls.Mode
			}
			clusters = append(clusters, ingressCluster(in, sc.InboundPool))
			if in.Bind != "" {
				bound = append(bound, boundIngress(in, ingressChains(in, mode, authz, f.tls)))
				continue
			}
			l.FilterChains = append(l.FilterChains, ingressChains(in, mode, authz, f.tls)...)
			taken[in.Port] = true
		}
	}
	for _, port := range mtls.PortNumbers() {
		if !taken[port] { // an ingress listener's chains carry the port's mode
			l.FilterChains = append(l.FilterChains, inboundChains(mtls.Ports[port], port, f)...)
		}
	}
	l.FilterChains = append(l.FilterChains, inboundChains(mtls.Mode, 0, f)...)
	return l, bound, clusters
}

// inboundFilters are what inbound chains hand connections to: HTTP (by ALPN or
// inspection) through the connection manager, other streams through network
// authorization, and the mesh mTLS transport socket that terminates mTLS chains.
type inboundFilters struct {
	http, tcp []*listenerv3.Filter
	tls       *corev3.TransportSocket
}

// inboundChains are the filter chains of one mode, for one port (0: any).
func inboundChains(mode string, port uint32, f inboundFilters) []*listenerv3.FilterChain {
	match := func(transport string, alpn []string) *listenerv3.FilterChainMatch {
		m := &listenerv3.FilterChainMatch{TransportProtocol: transport, ApplicationProtocols: alpn}
		if port != 0 {
			m.DestinationPort = wrapperspb.UInt32(port)
		}
		return m
	}
	name := func(kind string) string { return fmt.Sprintf("inbound|%d|%s", port, kind) }
	tls := f.tls
	var chains []*listenerv3.FilterChain
	if mode != ir.MTLSDisable {
		chains = append(chains,
			&listenerv3.FilterChain{Name: name("mtls-http"), FilterChainMatch: match("tls", istioHTTPALPN), TransportSocket: tls,
				Filters: f.http},
			&listenerv3.FilterChain{Name: name("mtls-tcp"), FilterChainMatch: match("tls", render.IstioALPN()), TransportSocket: tls,
				Filters: f.tcp},
		)
	}
	if mode != ir.MTLSStrict {
		chains = append(chains,
			&listenerv3.FilterChain{Name: name("plaintext-http"), FilterChainMatch: match("raw_buffer", plaintextHTTP),
				Filters: f.http},
			&listenerv3.FilterChain{Name: name("plaintext-tcp"), FilterChainMatch: match("raw_buffer", nil),
				Filters: f.tcp},
		)
		if mode == ir.MTLSDisable {
			// Without mTLS termination, TLS from a peer passes through as bytes.
			chains = append(chains, &listenerv3.FilterChain{Name: name("passthrough-tls"), FilterChainMatch: match("tls", nil),
				Filters: f.tcp})
		}
	}
	return chains
}

// inboundHTTP is the connection manager of inbound HTTP: the authorization filters
// (CUSTOM, DENY, AUDIT, ALLOW: Istio's order), then the router to the application
// through cluster, in a route configuration named route.
func inboundHTTP(stat string, authz render.Authz, cluster, route string) *listenerv3.Filter {
	filters := render.AuthzHTTPFilters(authz)
	filters = append(filters, &hcmv3.HttpFilter{Name: render.RouterFilter,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(&routerv3.Router{})}})
	return render.NetworkFilter(render.HCMFilter, &hcmv3.HttpConnectionManager{
		StatPrefix:     stat,
		HttpFilters:    filters,
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		// The application learns the peer's identity as Istio's sidecar tells it.
		ForwardClientCertDetails:    hcmv3.HttpConnectionManager_APPEND_FORWARD,
		SetCurrentClientCertDetails: &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{Uri: true},
		RouteSpecifier:              &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: inboundRoutes(route, cluster)},
	})
}

// inboundTCP is network RBAC (one filter per action) and the TCP proxy to the
// application through cluster.
func inboundTCP(stat string, authz render.Authz, cluster string) []*listenerv3.Filter {
	filters := render.AuthzNetworkFilters(authz, stat)
	return append(filters, render.TCPTo(stat, cluster))
}

// meshServerTLS terminates mesh mTLS: the workload certificate, a required client
// certificate, verified against the mesh roots.
func meshServerTLS() *tlsv3.DownstreamTlsContext {
	return &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext:         render.MeshTLSContext(nil),
	}
}

// inboundRoutes sends every inbound request to the application through cluster, with
// no timeout.
func inboundRoutes(name, cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name: name, Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:  "default",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
					Timeout:          durationpb.New(0),
				}},
			}},
		}},
	}
}
