package render

import (
	"strconv"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	internalupstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/protomarshal"
)

// Names Envoy and Istio's sidecar bootstrap agree on.
const (
	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	tlsTransportSocket     = "envoy.transport_sockets.tls"
	rawTransportSocket     = "envoy.transport_sockets.raw_buffer"
	// SDSCluster is the istio-agent's SDS server, defined in Istio's Envoy bootstrap.
	SDSCluster = "sds-grpc"
	// Istio's SDS names for the workload's certificate and the mesh's roots.
	sdsWorkloadCert = "default"
	sdsRootCA       = "ROOTCA"
	// TLSModeKey is the endpoint metadata key auto-mTLS matches on.
	TLSModeKey = "tlsMode"
	// TransportSocketMatchFilter is the endpoint metadata namespace Envoy reads for
	// transport_socket_matches.
	TransportSocketMatchFilter = "envoy.transport_socket_match"
)

// upstreamProtocol sets how Envoy speaks HTTP to the cluster: HTTP/2 for HTTP2 and gRPC
// ports and when the pool asks to upgrade, the caller's protocol on sniffed ports,
// HTTP/1.1 otherwise; with the pool's per-connection limits.
func upstreamProtocol(c *clusterv3.Cluster, protocol string, p *ir.TrafficPolicy) {
	var cp *ir.ConnectionPool
	if p != nil {
		cp = p.ConnectionPool
	}
	common := commonHTTPOptions(cp)
	h2 := func() *corev3.Http2ProtocolOptions {
		h2 := &corev3.Http2ProtocolOptions{}
		if cp != nil && cp.MaxConcurrentStreams != nil {
			h2.MaxConcurrentStreams = wrapperspb.UInt32(*cp.MaxConcurrentStreams)
		}
		return h2
	}
	upgrade := cp != nil && cp.H2Upgrade == "UPGRADE"
	switch protocol {
	case "HTTP2", "GRPC", "UNKNOWN":
	case "HTTP":
		if common == nil && !upgrade {
			return // Envoy's default, HTTP/1.1, with no limits: nothing to say
		}
	default:
		return // TCP and TLS ports carry no HTTP
	}
	opts := &httpv3.HttpProtocolOptions{CommonHttpProtocolOptions: common}
	switch {
	case protocol == "HTTP2" || protocol == "GRPC" || (protocol == "HTTP" && upgrade):
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: h2()}}}
	case protocol == "UNKNOWN":
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
			Http2ProtocolOptions: h2()}}
	default: // HTTP/1.1 with limits
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}}}}
	}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: MustAny(opts)}
}

// upstreamTLS sets the cluster's transport socket from the DestinationRule's tls, as
// Istio does: DISABLE is plaintext; SIMPLE and MUTUAL originate TLS with the given
// files or credentialName; ISTIO_MUTUAL uses the workload's mesh certificate; unset
// means auto-mTLS: mesh mTLS to endpoints labelled tlsMode=istio, plaintext to others.
func upstreamTLS(c *clusterv3.Cluster, spec ClusterSpec, p *ir.TrafficPolicy) {
	var tls *ir.ClientTLS
	if p != nil {
		tls = p.TLS
	}
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST && tls == nil {
		return // passthrough: the caller's bytes go through as they are
	}
	switch {
	case tls == nil:
		c.TransportSocketMatches = autoMTLS(spec)
	case tls.Mode == "ISTIO_MUTUAL":
		c.TransportSocket = tlsSocket(istioMutual(spec, tls))
	case tls.Mode == "SIMPLE" || tls.Mode == "MUTUAL":
		c.TransportSocket = tlsSocket(originateTLS(spec, tls))
	}
}

// The parts of auto-mTLS every cluster carries alike, shared as clusterEDSSource is:
// the match of endpoints labelled for mesh mTLS, and the plaintext fallback.
var (
	tlsModeIstio    = &structpb.Struct{Fields: map[string]*structpb.Value{TLSModeKey: structpb.NewStringValue("istio")}}
	tlsModeDisabled = &clusterv3.Cluster_TransportSocketMatch{
		Name:            "tlsMode-disabled",
		Match:           &structpb.Struct{},
		TransportSocket: &corev3.TransportSocket{Name: rawTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: rawBuffer()}},
	}
)

// IstioALPN is the ALPN of mesh mTLS: sidecars recognise each other's connections by it.
func IstioALPN() []string { return []string{"istio-peer-exchange", "istio"} }

// MeshTLSContext is the TLS context of mesh mTLS, either side: the workload certificate
// and the mesh roots from the istio-agent's SDS, Istio's ALPN, and the peer's identity
// checked against sans when any are given.
func MeshTLSContext(sans []string) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		AlpnProtocols:                  IstioALPN(),
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{SDSSecret(sdsWorkloadCert)},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(sans)},
			ValidationContextSdsSecretConfig: SDSSecret(sdsRootCA),
		}},
	}
}

// istioMutual is mesh mTLS to a cluster, with an SNI naming it as Istio's does.
func istioMutual(spec ClusterSpec, tls *ir.ClientTLS) *tlsv3.UpstreamTlsContext {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni:              meshSNI(spec),
		CommonTlsContext: MeshTLSContext(tlsSANs(tls)),
	}
	ctx.CommonTlsContext.AlpnProtocols = meshALPN(spec.Protocol)
	if tls != nil && tls.SNI != "" {
		ctx.Sni = tls.SNI
	}
	return ctx
}

func meshSNI(spec ClusterSpec) string {
	return string(appendMeshSNI(make([]byte, 0, 32+len(spec.Subset)+len(spec.Hostname)), spec))
}

// appendMeshSNI appends Istio's SNI for a cluster: outbound_.<port>_.<subset>_.<host>.
func appendMeshSNI(b []byte, spec ClusterSpec) []byte {
	b = strconv.AppendUint(append(b, "outbound_."...), uint64(spec.Port), 10)
	return append(append(append(append(b, "_."...), spec.Subset...), "_."...), spec.Hostname...)
}

// meshALPN is what a client offers the peer's sidecar, which picks its inbound chain
// by it: HTTP ports say which HTTP they carry (so the peer applies HTTP
// authorization), others plain "istio".
func meshALPN(protocol string) []string {
	switch protocol {
	case "HTTP":
		return []string{"istio-http/1.1", "istio"}
	case "HTTP2", "GRPC":
		return []string{"istio-h2", "istio"}
	}
	return IstioALPN()
}

// autoMTLSParts are the messages of a cluster's auto-mTLS, allocated together: most
// clusters have them.
type autoMTLSParts struct {
	matches [2]*clusterv3.Cluster_TransportSocketMatch
	mesh    clusterv3.Cluster_TransportSocketMatch
	socket  corev3.TransportSocket
	typed   corev3.TransportSocket_TypedConfig
	context anypb.Any
}

// autoMTLS are the transport socket matches of auto-mTLS: mesh mTLS to endpoints
// labelled for it, plaintext to the rest.
func autoMTLS(spec ClusterSpec) []*clusterv3.Cluster_TransportSocketMatch {
	p := new(autoMTLSParts)
	p.context.TypeUrl, p.context.Value = upstreamTLSURL(), autoMTLSContext(spec)
	p.typed.TypedConfig = &p.context
	p.socket.Name, p.socket.ConfigType = tlsTransportSocket, &p.typed
	p.mesh.Name, p.mesh.Match, p.mesh.TransportSocket = "tlsMode-istio", tlsModeIstio, &p.socket
	p.matches = [2]*clusterv3.Cluster_TransportSocketMatch{&p.mesh, tlsModeDisabled}
	return p.matches[:]
}

// autoMTLSContext is istioMutual(spec, nil), marshalled. Auto-mTLS contexts differ
// from cluster to cluster only in their SNI, so the rest (certificate and roots from
// SDS, the ALPN) is marshalled once per protocol and the SNI appended as field 2 after
// field 1: the bytes a marshal of the whole context gives. Building and marshalling
// the whole context per cluster was a quarter of generating a sidecar's config.
func autoMTLSContext(spec ClusterSpec) []byte {
	head := meshTLSHead(spec.Protocol)
	var scratch [256]byte // a hostname's most, on the stack: not a string per cluster
	sni := appendMeshSNI(scratch[:0], spec)
	value := make([]byte, 0, len(head)+protowire.SizeTag(2)+protowire.SizeBytes(len(sni)))
	value = append(value, head...)
	value = protowire.AppendTag(value, 2, protowire.BytesType)
	return protowire.AppendBytes(value, sni)
}

var (
	rawBuffer      = onceAny(&rawbufferv3.RawBuffer{})
	upstreamTLSURL = sync.OnceValue(func() string { return protomarshal.TypeURL(&tlsv3.UpstreamTlsContext{}) })
	meshTLSHeads   sync.Map // port protocol -> its auto-mTLS context marshalled without SNI
)

// meshTLSHead is istioMutual's context for a port of the protocol, marshalled without
// its SNI, made once per protocol.
func meshTLSHead(protocol string) []byte {
	if h, ok := meshTLSHeads.Load(protocol); ok {
		return h.([]byte)
	}
	ctx := istioMutual(ClusterSpec{Protocol: protocol}, nil)
	ctx.Sni = ""
	h := MustAny(ctx).Value
	meshTLSHeads.Store(protocol, h)
	return h
}

// originateTLS is SIMPLE or MUTUAL TLS to a server outside the mesh's identity system.
func originateTLS(spec ClusterSpec, tls *ir.ClientTLS) *tlsv3.UpstreamTlsContext {
	common := &tlsv3.CommonTlsContext{}
	if spec.Protocol == "HTTP2" || spec.Protocol == "GRPC" {
		common.AlpnProtocols = []string{"h2"}
	}
	validation := &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(tls.SubjectAltNames)}
	if tls.InsecureSkipVerify {
		validation.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	switch {
	case tls.CredentialName != "":
		// The agent serves a Kubernetes Secret as kubernetes://<name> and its CA as
		// kubernetes://<name>-cacert.
		name := "kubernetes://" + tls.CredentialName
		if tls.Mode == "MUTUAL" {
			common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{SDSSecret(name)}
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: validation, ValidationContextSdsSecretConfig: SDSSecret(name + "-cacert"),
		}}
	default:
		if tls.Mode == "MUTUAL" {
			common.TlsCertificates = []*tlsv3.TlsCertificate{{
				CertificateChain: FileSource(tls.ClientCertificate), PrivateKey: FileSource(tls.PrivateKey),
			}}
		}
		if tls.CACertificates != "" {
			validation.TrustedCa = FileSource(tls.CACertificates)
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: validation}
	}
	sni := tls.SNI
	if sni == "" {
		sni = spec.Hostname
	}
	return &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: common}
}

func tlsSANs(tls *ir.ClientTLS) []string {
	if tls == nil {
		return nil
	}
	return tls.SubjectAltNames
}

func sanMatchers(sans []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, san := range sans {
		kind := tlsv3.SubjectAltNameMatcher_DNS
		if len(san) > 9 && san[:9] == "spiffe://" {
			kind = tlsv3.SubjectAltNameMatcher_URI
		}
		out = append(out, &tlsv3.SubjectAltNameMatcher{SanType: kind,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}}})
	}
	return out
}

func tlsSocket(ctx *tlsv3.UpstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: tlsTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: MustAny(ctx)}}
}

// SDSSecret fetches a secret from the istio-agent's SDS server, as Istio's sidecars do.
func SDSSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion:  corev3.ApiVersion_V3,
		InitialFetchTimeout: durationpb.New(0),
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3, SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: SDSCluster}}}},
		}},
	}}
}

// FileSource is a data source read from a file on the proxy (nil for "").
func FileSource(path string) *corev3.DataSource {
	if path == "" {
		return nil
	}
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// proxylessMTLS makes a proxyless client speak mesh mTLS to the cluster when the
// DestinationRule says ISTIO_MUTUAL: the workload certificate and the mesh roots come
// from the certificate provider instance Istio's proxyless bootstrap names "default".
// grpc-go has no per-endpoint transport sockets, so there is no auto-mTLS here.
func proxylessMTLS(c *clusterv3.Cluster, p *ir.TrafficPolicy) {
	if p == nil || p.TLS == nil || p.TLS.Mode != "ISTIO_MUTUAL" {
		return
	}
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: "default", CertificateName: "default"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: "default", CertificateName: "ROOTCA"},
		}},
	}}
	if sans := p.TLS.SubjectAltNames; len(sans) > 0 {
		for _, m := range sanMatchers(sans) {
			ctx.CommonTlsContext.GetValidationContext().MatchTypedSubjectAltNames = append(ctx.CommonTlsContext.GetValidationContext().MatchTypedSubjectAltNames, m)
		}
	}
	c.TransportSocket = tlsSocket(ctx)
}

// tunnelUpstream makes a waypoint's cluster hand its connections to the
// connect_originate internal listener, which tunnels them over HBONE with the
// waypoint's own mesh certificate: mesh mTLS (auto or ISTIO_MUTUAL) is the tunnel's,
// while TLS a DestinationRule originates (SIMPLE, MUTUAL) runs inside it. The
// endpoints' original_dst metadata crosses to the internal listener.
func tunnelUpstream(c *clusterv3.Cluster, p *ir.TrafficPolicy) {
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		return // passthrough: no endpoints to tunnel to
	}
	inner := &corev3.TransportSocket{Name: rawTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: rawBuffer()}}
	if p != nil && p.TLS != nil && (p.TLS.Mode == "SIMPLE" || p.TLS.Mode == "MUTUAL") && c.TransportSocket != nil {
		inner = c.TransportSocket
	}
	c.TransportSocketMatches = nil
	c.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.internal_upstream", ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: MustAny(&internalupstreamv3.InternalUpstreamTransport{
			PassthroughMetadata: []*internalupstreamv3.InternalUpstreamTransport_MetadataValueSource{{
				Kind: &metadatav3.MetadataKind{Kind: &metadatav3.MetadataKind_Host_{Host: &metadatav3.MetadataKind_Host{}}},
				Name: OriginalDstMetadata,
			}},
			TransportSocket: inner,
		})}}
}

// InboundCluster gives a cluster to the workload the pool's limits, and speaks to it
// in the port's protocol (as an outbound cluster of that protocol would).
func InboundCluster(c *clusterv3.Cluster, protocol string, pool *ir.ConnectionPool) {
	connectionPool(c, pool, Envoy)
	upstreamProtocol(c, protocol, &ir.TrafficPolicy{ConnectionPool: pool})
}
