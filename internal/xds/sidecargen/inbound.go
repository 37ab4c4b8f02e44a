package sidecargen

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/xds/render"
)

// inboundRoute is the name of the inline route configuration of inbound HTTP.
const inboundRoute = "inbound|http|0"

// virtualInbound receives every intercepted inbound connection. Until
// PeerAuthentication is applied per workload it behaves as Istio's default, PERMISSIVE:
// mesh mTLS (recognised by Istio's ALPN) is terminated with the workload's certificate
// and the peer's verified against the mesh roots; plaintext HTTP goes through an HTTP
// connection manager; anything else passes through as TCP. The application always gets
// the connection from 127.0.0.6, as with Istio.
func virtualInbound() *listenerv3.Listener {
	stat := fmt.Sprintf("inbound_0.0.0.0_%d", InboundPort)
	return &listenerv3.Listener{
		Name:             VirtualInbound,
		Address:          render.SocketAddress("0.0.0.0", InboundPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{originalDst(), tlsInspector(), httpInspector()},
		FilterChains: []*listenerv3.FilterChain{
			{
				Name: "inbound-mtls",
				FilterChainMatch: &listenerv3.FilterChainMatch{
					TransportProtocol: "tls", ApplicationProtocols: render.IstioALPN(),
				},
				TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
					TypedConfig: render.MustAny(meshServerTLS()),
				}},
				Filters: []*listenerv3.Filter{tcpTo(stat, InboundPassthroughCluster)},
			},
			{
				Name: "inbound-http",
				FilterChainMatch: &listenerv3.FilterChainMatch{
					TransportProtocol: "raw_buffer", ApplicationProtocols: plaintextHTTP,
				},
				Filters: []*listenerv3.Filter{connectionManager(stat, "", inboundRoutes(), corev3.TrafficDirection_INBOUND)},
			},
		},
		DefaultFilterChain: &listenerv3.FilterChain{
			Name:    "inbound-tcp",
			Filters: []*listenerv3.Filter{tcpTo(stat, InboundPassthroughCluster)},
		},
	}
}

// meshServerTLS terminates mesh mTLS: the workload certificate, a required client
// certificate, verified against the mesh roots.
func meshServerTLS() *tlsv3.DownstreamTlsContext {
	return &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext:         render.MeshTLSContext(nil),
	}
}

// inboundRoutes sends every inbound request to the application, with no timeout.
func inboundRoutes() *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: inboundRoute,
		VirtualHosts: []*routev3.VirtualHost{{
			Name: inboundRoute, Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:  "default",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: InboundPassthroughCluster},
					Timeout:          durationpb.New(0),
				}},
			}},
		}},
	}
}
