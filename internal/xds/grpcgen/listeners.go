package grpcgen

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// apiListener is a client-side listener: an HTTP connection manager whose routes come
// from RDS under the same name. The fault filter is present so routes can configure
// it; the router comes last, as grpc-go requires.
func apiListener(name string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: render.ADSSource(), RouteConfigName: name,
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: render.FaultFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(&faultv3.HTTPFault{})}},
			{Name: render.RouterFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(&routerv3.Router{})}},
		},
	}
	return &listenerv3.Listener{
		Name:        name,
		ApiListener: &listenerv3.ApiListener{ApiListener: render.MustAny(hcm)},
	}
}

// routeConfig renders one service port's route table. The virtual host answers to the
// FQDN and FQDN:port, which is what a gRPC client's xds:/// target carries.
func routeConfig(name string, svc *ir.Service, table *ir.RouteTable, find render.Lookup) *routev3.RouteConfiguration {
	vh := &routev3.VirtualHost{
		Name:    name,
		Domains: []string{svc.Hostname, name},
		Routes:  render.Routes(table.Routes, find, render.Proxyless),
	}
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{vh}}
}
