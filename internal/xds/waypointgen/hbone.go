package waypointgen

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	setfilterstatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	setfilterstatehttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/set_filter_state/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	internalupstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/xds/render"
)

// HBONE is HTTP/2 CONNECT over mutual TLS on port 15008. A waypoint terminates the
// tunnels ztunnel (or another waypoint) opens to it, serves the inner stream on an
// internal listener as if it had been addressed to the tunnel's destination, and
// opens tunnels of its own to the workloads it forwards to. This is the plumbing of
// Istio's waypoints, on upstream Envoy extensions only.

// Names of the plumbing, as Istio names it.
const (
	connectTerminate = "connect_terminate"
	mainInternal     = "main_internal"
	// hbonePort is where HBONE tunnels end: waypoints and ztunnel alike.
	hbonePort = 15008
	// connectUpgrade is the upgrade type of an HTTP/2 CONNECT.
	connectUpgrade = "CONNECT"
	// Filter state the tunnel's CONNECT fills in for the internal listener:
	// original_dst restores the connection's addresses from the first two, and
	// authorization reads the peer's identity from render.PeerPrincipalState (an
	// internal connection has no TLS peer to inspect).
	stateLocalIP  = "envoy.filters.listener.original_dst.local_ip"
	stateRemoteIP = "envoy.filters.listener.original_dst.remote_ip"
	// internalListenerSocket and friends are the extensions' names.
	internalUpstreamSocket = "envoy.transport_sockets.internal_upstream"
	originalDstFilter      = "envoy.filters.listener.original_dst"
	setFilterStateFilter   = "envoy.filters.http.set_filter_state"
)

// hboneTLS is the TLS of both ends of a tunnel: TLS 1.3, ALPN h2, the waypoint's
// workload certificate and the mesh roots over SDS, and a peer in the trust domain.
func hboneTLS(trustDomain string) *tlsv3.CommonTlsContext {
	v13 := &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3}
	return &tlsv3.CommonTlsContext{
		TlsParams:                      v13,
		AlpnProtocols:                  []string{"h2"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{render.SDSSecret("default")},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + trustDomain + "/"}},
			}}},
			ValidationContextSdsSecretConfig: render.SDSSecret("ROOTCA"),
		}},
	}
}

// shared sets filter state key from format, shared with the next (internal) hop.
func shared(key, format string, factory string) *setfilterstatev3.FilterStateValue {
	return &setfilterstatev3.FilterStateValue{
		Key:        &setfilterstatev3.FilterStateValue_ObjectKey{ObjectKey: key},
		FactoryKey: factory,
		Value: &setfilterstatev3.FilterStateValue_FormatString{FormatString: &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: format}}}}},
		SharedWithUpstream: setfilterstatev3.FilterStateValue_ONCE,
	}
}

// connectTerminateListener ends HBONE tunnels on 0.0.0.0:15008 and hands each
// CONNECT stream to main_internal, with its destination (the CONNECT authority), its
// source and its peer's identity in filter state shared with that connection.
func connectTerminateListener(trustDomain string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:        connectTerminate,
		StreamIdleTimeout: durationpb.New(0),
		UpgradeConfigs:    []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: connectUpgrade}},
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
			AllowConnect:         true,
			MaxConcurrentStreams: wrapperspb.UInt32(100),
		},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "default",
			VirtualHosts: []*routev3.VirtualHost{{Name: "default", Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: mainInternal},
					UpgradeConfigs: []*routev3.RouteAction_UpgradeConfig{{UpgradeType: connectUpgrade,
						ConnectConfig: &routev3.RouteAction_UpgradeConfig_ConnectConfig{}}},
				}},
			}}}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: setFilterStateFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(&setfilterstatehttpv3.Config{
				OnRequestHeaders: []*setfilterstatev3.FilterStateValue{
					shared(stateLocalIP, "%REQ(:AUTHORITY)%", ""),
					shared(stateRemoteIP, "%DOWNSTREAM_REMOTE_ADDRESS%", ""),
					shared(render.PeerPrincipalState, "%DOWNSTREAM_PEER_URI_SAN%", "envoy.hashable_string"),
				},
			})}},
			{Name: render.RouterFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(&routerv3.Router{})}},
		},
	}
	tls := &tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true), CommonTlsContext: hboneTLS(trustDomain)}
	return &listenerv3.Listener{
		Name:    connectTerminate,
		Address: render.SocketAddress("0.0.0.0", hbonePort),
		FilterChains: []*listenerv3.FilterChain{{
			Name:            "default",
			TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: render.MustAny(tls)}},
			Filters:         []*listenerv3.Filter{render.NetworkFilter(render.HCMFilter, hcm)},
		}},
	}
}

// connectOriginateListener opens a tunnel for each connection a waypoint cluster
// hands it: original_dst restores the workload's IP:port from the endpoint's
// metadata, which becomes the CONNECT authority, and the connect_originate cluster
// dials that IP on 15008.
func connectOriginateListener() *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:              render.ConnectOriginate,
		ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}},
		ListenerFilters:   []*listenerv3.ListenerFilter{render.ListenerFilter(originalDstFilter, &originaldstv3.OriginalDst{})},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{render.NetworkFilter(render.TCPProxyFilter, &tcpproxyv3.TcpProxy{
			StatPrefix:       render.ConnectOriginate,
			ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: render.ConnectOriginate},
			TunnelingConfig:  &tcpproxyv3.TcpProxy_TunnelingConfig{Hostname: "%DOWNSTREAM_LOCAL_ADDRESS%"},
		})}}},
	}
}

// internalCluster sends connections to an internal listener of the same Envoy.
func internalCluster(name, listener string) *clusterv3.Cluster {
	raw := &corev3.TransportSocket{Name: "envoy.transport_sockets.raw_buffer", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: render.MustAny(&rawbufferv3.RawBuffer{})}}
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
					AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: listener}}}},
			}}}},
		}}},
		TransportSocket: &corev3.TransportSocket{Name: internalUpstreamSocket, ConfigType: &corev3.TransportSocket_TypedConfig{
			TypedConfig: render.MustAny(&internalupstreamv3.InternalUpstreamTransport{TransportSocket: raw})}},
	}
}

// connectOriginateCluster dials a tunnelled workload: the address original_dst
// restored, on port 15008, over mutual TLS and HTTP/2 CONNECT.
func connectOriginateCluster(trustDomain string) *clusterv3.Cluster {
	opts := &httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
		ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{AllowConnect: true}}}}}
	tls := &tlsv3.UpstreamTlsContext{CommonTlsContext: hboneTLS(trustDomain)}
	return &clusterv3.Cluster{
		Name:                 render.ConnectOriginate,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(10e9),
		CleanupInterval:      durationpb.New(60e9),
		LbConfig: &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
			UpstreamPortOverride: wrapperspb.UInt32(hbonePort)}},
		TransportSocket:               &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: render.MustAny(tls)}},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": render.MustAny(opts)},
	}
}
