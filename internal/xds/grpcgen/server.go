package grpcgen

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// ServerListenerPrefix starts the listener names proxyless gRPC servers ask for, with
// Istio's server_listener_resource_name_template: "<prefix><ip>:<port>".
const ServerListenerPrefix = "xds.istio.io/grpc/lds/inbound/"

// certProvider is the certificate provider instance Istio's proxyless bootstrap names;
// it holds the workload certificate ("default") and the mesh roots ("ROOTCA").
const certProvider = "default"

// IsServerListener reports whether a listener name is a proxyless server's.
func IsServerListener(name string) bool { return strings.HasPrefix(name, ServerListenerPrefix) }

// serverListener renders a proxyless server's inbound listener: the workload's mTLS mode
// for the port (STRICT: TLS with a required client certificate from the bootstrap's
// certificate provider; otherwise plaintext, since grpc-go cannot serve both on one
// port) and its AuthorizationPolicies as RBAC HTTP filters. Nil for a malformed name.
func serverListener(name string, mtls render.MTLS, authz render.Authz) *listenerv3.Listener {
	host, portStr, err := net.SplitHostPort(strings.TrimPrefix(name, ServerListenerPrefix))
	port, perr := strconv.ParseUint(portStr, 10, 32)
	if err != nil || perr != nil || net.ParseIP(host) == nil {
		return nil
	}
	mode := mtls.Mode
	if m, ok := mtls.Ports[uint32(port)]; ok {
		mode = m
	}
	chain := &listenerv3.FilterChain{
		Name:    fmt.Sprintf("inbound|%d", port),
		Filters: []*listenerv3.Filter{serverHCM(name, authz)},
	}
	if mode == ir.MTLSStrict {
		chain.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
			TypedConfig: render.MustAny(&tlsv3.DownstreamTlsContext{
				RequireClientCertificate: wrapperspb.Bool(true),
				CommonTlsContext: &tlsv3.CommonTlsContext{
					TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: certProvider, CertificateName: "default"},
					ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
						CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: certProvider, CertificateName: "ROOTCA"},
					}},
				},
			}),
		}}
	}
	return &listenerv3.Listener{
		Name:         name,
		Address:      render.SocketAddress(host, uint32(port)),
		FilterChains: []*listenerv3.FilterChain{chain},
	}
}

// serverHCM serves every request locally (NonForwardingAction, as grpc-go requires)
// after the RBAC filters.
func serverHCM(name string, authz render.Authz) *listenerv3.Filter {
	var filters []*hcmv3.HttpFilter
	if c := authz.Custom; c != nil && c.HTTPRules != nil {
		// grpc-go has no ext_authz: what a CUSTOM rule would send to the provider is
		// denied instead (fail closed).
		filters = append(filters, &hcmv3.HttpFilter{Name: render.RBACFilterName + ".custom",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.PackRBAC(&rbachttpv3.RBAC{}, c.HTTPRules.WithAction(rbacv3.RBAC_DENY), nil)}})
	}
	for _, set := range authz.HTTP {
		if set.Rules == nil {
			continue // grpc-go ignores shadow rules
		}
		// grpc-go refuses two filters of one name; Envoy does not mind, but one per
		// action it is.
		filters = append(filters, &hcmv3.HttpFilter{Name: render.RBACFilterName + "." + strings.ToLower(set.Action),
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.PackRBAC(&rbachttpv3.RBAC{}, set.Rules, nil)}})
	}
	filters = append(filters, &hcmv3.HttpFilter{Name: render.RouterFilter,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(&routerv3.Router{})}})
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:  name,
		HttpFilters: filters,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "inbound",
			VirtualHosts: []*routev3.VirtualHost{{
				Name: "inbound", Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_NonForwardingAction{NonForwardingAction: &routev3.NonForwardingAction{}},
				}},
			}},
		}},
	}
	return &listenerv3.Filter{Name: "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: render.MustAny(hcm)}}
}
