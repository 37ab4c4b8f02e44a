package sidecargen

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// A Sidecar's ingress listeners decide, port by port, how virtualInbound takes what
// the workload receives and where it goes: the port's protocol (HTTP through the
// connection manager, other protocols as streams, both behind the workload's
// authorization), the mesh's mTLS as PeerAuthentication says for the port or the
// listener's own TLS from files, and a cluster inbound|<port>|| to the default
// endpoint. Ports no ingress listener names pass through as without a Sidecar.

// inboundClusterName is Istio's name of the cluster to the workload's port.
func inboundClusterName(port uint32) string { return fmt.Sprintf("inbound|%d||", port) }

// takesHTTP reports whether an ingress listener's traffic reaches the application as
// HTTP: HTTP protocols, and HTTPS whose TLS the listener terminates.
func takesHTTP(l *ir.IngressListener) bool {
	switch l.Protocol {
	case "HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY":
		return true
	case "HTTPS":
		return terminates(l)
	}
	return false
}

// terminates reports whether the listener terminates TLS with its own files.
func terminates(l *ir.IngressListener) bool { return l.TLS != nil && l.TLS.Mode != "PASSTHROUGH" }

// ingressChains are the filter chains of one ingress listener, to its cluster: the
// listener's own TLS, or the chains of the mesh mTLS mode PeerAuthentication gives its
// port (meshTLS terminates them), whose HTTP is taken as HTTP only on HTTP ports.
func ingressChains(l *ir.IngressListener, mode string, authz render.Authz, meshTLS *corev3.TransportSocket) []*listenerv3.FilterChain {
	cluster := inboundClusterName(l.Port)
	stat := fmt.Sprintf("inbound_0.0.0.0_%d", l.Port)
	f := inboundFilters{tcp: inboundTCP(stat, authz, cluster), tls: meshTLS}
	f.http = f.tcp
	if takesHTTP(l) {
		f.http = []*listenerv3.Filter{inboundHTTP(stat, authz, cluster, fmt.Sprintf("inbound|http|%d", l.Port))}
	}
	match := &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(l.Port)}
	switch {
	case terminates(l):
		// TLS from outside the mesh, as the Sidecar says: no mesh mTLS on this port.
		match.TransportProtocol = "tls"
		return []*listenerv3.FilterChain{{Name: fmt.Sprintf("inbound|%d|tls", l.Port), FilterChainMatch: match,
			TransportSocket: serverTLS(l.TLS, takesHTTP(l)), Filters: f.http}}
	case l.TLS != nil:
		// PASSTHROUGH: the application terminates TLS; the bytes pass as they are.
		return []*listenerv3.FilterChain{{Name: fmt.Sprintf("inbound|%d|passthrough", l.Port), FilterChainMatch: match, Filters: f.tcp}}
	}
	return inboundChains(mode, l.Port, f)
}

// serverTLS terminates TLS with the listener's files: its certificate and key, and
// for MUTUAL and OPTIONAL_MUTUAL the CAs (and pins) client certificates are checked
// against, a certificate being required with MUTUAL.
func serverTLS(t *ir.ServerTLS, http bool) *corev3.TransportSocket {
	common := &tlsv3.CommonTlsContext{
		TlsCertificates: []*tlsv3.TlsCertificate{{
			CertificateChain: render.FileSource(t.ServerCertificate),
			PrivateKey:       render.FileSource(t.PrivateKey),
		}},
		TlsParams: tlsParams(t),
	}
	if http {
		common.AlpnProtocols = []string{"h2", "http/1.1"}
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	if t.Mode == "MUTUAL" || t.Mode == "OPTIONAL_MUTUAL" {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa:             render.FileSource(t.CaCertificates),
			Crl:                   render.FileSource(t.CaCrl),
			VerifyCertificateSpki: t.VerifySPKI,
			VerifyCertificateHash: t.VerifyHash,
		}}
		ctx.RequireClientCertificate = wrapperspb.Bool(t.Mode == "MUTUAL")
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: render.MustAny(ctx)}}
}

// tlsParams are the listener's protocol versions and cipher suites, nil when it sets
// none.
func tlsParams(t *ir.ServerTLS) *tlsv3.TlsParameters {
	if t.MinVersion == "" && t.MaxVersion == "" && len(t.CipherSuites) == 0 {
		return nil
	}
	version := map[string]tlsv3.TlsParameters_TlsProtocol{
		"": tlsv3.TlsParameters_TLS_AUTO, "TLS_AUTO": tlsv3.TlsParameters_TLS_AUTO, "TLSV1_0": tlsv3.TlsParameters_TLSv1_0,
		"TLSV1_1": tlsv3.TlsParameters_TLSv1_1, "TLSV1_2": tlsv3.TlsParameters_TLSv1_2, "TLSV1_3": tlsv3.TlsParameters_TLSv1_3,
	}
	return &tlsv3.TlsParameters{TlsMinimumProtocolVersion: version[t.MinVersion], TlsMaximumProtocolVersion: version[t.MaxVersion], CipherSuites: t.CipherSuites}
}

// boundIngress is the listener of an ingress listener whose traffic is not captured:
// bound to its address and port, with its chains (which match the port, as every
// connection to the listener does).
func boundIngress(in *ir.IngressListener, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             fmt.Sprintf("%s_%d", in.Bind, in.Port),
		Address:          render.SocketAddress(in.Bind, in.Port),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{render.TLSInspector(), render.HTTPInspector()},
		FilterChains:     chains,
	}
}

// ingressCluster is the cluster inbound|<port>|| to an ingress listener's default
// endpoint: the address the traffic was sent to (none given), the loopback, the
// workload's own address on another port (Envoy keeps the original address and
// changes the port), or a Unix domain socket; with the listener's connection pool,
// else the Sidecar's.
func ingressCluster(l *ir.IngressListener, pool *ir.ConnectionPool) *clusterv3.Cluster {
	name := inboundClusterName(l.Port)
	if l.Pool != nil {
		pool = l.Pool
	}
	protocol := l.Protocol
	if !takesHTTP(l) {
		protocol = "TCP"
	} else if l.Protocol == "HTTPS" {
		protocol = "UNKNOWN" // the client's HTTP version, once TLS is off
	}
	var c *clusterv3.Cluster
	ep := l.DefaultEndpoint
	host, portText, _ := net.SplitHostPort(ep)
	port, _ := strconv.ParseUint(portText, 10, 32)
	socket, unix := strings.CutPrefix(ep, "unix://")
	switch {
	case !unix && (host == "" || host == "0.0.0.0" || host == "::"):
		c = &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
			LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
			UpstreamBindConfig: &corev3.BindConfig{SourceAddress: &corev3.SocketAddress{
				Address: inboundPassthroughSource, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 0}}},
		}
		if ep != "" {
			c.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
				UpstreamPortOverride: wrapperspb.UInt32(uint32(port))}}
		}
	default:
		addr := render.SocketAddress(host, uint32(port))
		if unix {
			addr = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: socket}}}
		}
		c = &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}}},
			}}},
		}
	}
	c.ConnectTimeout = durationpb.New(connectTimeout)
	render.InboundCluster(c, protocol, pool)
	return c
}
