package render

import (
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ir"
)

// Envoy's extension names for the listener and network filters Envoy proxies use.
const (
	HCMFilter           = "envoy.filters.network.http_connection_manager"
	TCPProxyFilter      = "envoy.filters.network.tcp_proxy"
	TLSInspectorFilter  = "envoy.filters.listener.tls_inspector"
	HTTPInspectorFilter = "envoy.filters.listener.http_inspector"
)

// NetworkFilter wraps a network filter's config.
func NetworkFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: MustAny(m)}}
}

// ListenerFilter wraps a listener filter's config.
func ListenerFilter(name string, m proto.Message) *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: name, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: MustAny(m)}}
}

// Filters whose config never changes are built (and marshalled) once and shared by
// every resource that uses them; generated resources are never modified afterwards.
var (
	tlsInspector  = ListenerFilter(TLSInspectorFilter, &tlsinspectorv3.TlsInspector{})
	httpInspector = ListenerFilter(HTTPInspectorFilter, &httpinspectorv3.HttpInspector{})
	envoyHTTP     = []*hcmv3.HttpFilter{
		httpFilter(FaultFilter, &faultv3.HTTPFault{}),
		httpFilter(CORSFilter, &corsv3.Cors{}),
		httpFilter(RouterFilter, &routerv3.Router{}),
	}
)

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: MustAny(m)}}
}

// TLSInspector reads SNI and ALPN for filter chain matching.
func TLSInspector() *listenerv3.ListenerFilter { return tlsInspector }

// HTTPInspector tells plaintext HTTP from other protocols.
func HTTPInspector() *listenerv3.ListenerFilter { return httpInspector }

// EnvoyHTTPFilters are the HTTP filters of every Envoy HTTP connection manager meshd
// renders: fault and CORS read their config from routes; the router comes last. The
// slice is fresh; the filters in it are shared and must not be modified.
func EnvoyHTTPFilters() []*hcmv3.HttpFilter { return slices.Clone(envoyHTTP) }

// RDSConnectionManager is an HTTP connection manager whose routes come from RDS under
// the given name, with WebSocket upgrades passed through, as in Istio. The filters
// given (authorization) run before the standard ones.
func RDSConnectionManager(statPrefix, rds string, first ...*hcmv3.HttpFilter) *listenerv3.Filter {
	return NetworkFilter(HCMFilter, &hcmv3.HttpConnectionManager{
		StatPrefix:     statPrefix,
		HttpFilters:    append(first, EnvoyHTTPFilters()...),
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ADSSource(), RouteConfigName: rds}},
	})
}

// TCPProxy forwards connections to one cluster or splits them by weight. Envoy needs
// weights of at least 1, so zero-weight destinations are left out.
func TCPProxy(statPrefix string, dests []*ir.Destination) *listenerv3.Filter {
	tp := &tcpproxyv3.TcpProxy{StatPrefix: statPrefix}
	var live []*ir.Destination
	for _, d := range dests {
		if d.Weight > 0 {
			live = append(live, d)
		}
	}
	if len(live) == 1 {
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: live[0].Cluster}
	} else {
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
		for _, d := range live {
			wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: d.Cluster, Weight: d.Weight})
		}
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	return NetworkFilter(TCPProxyFilter, tp)
}

// TCPTo forwards every connection to one cluster.
func TCPTo(statPrefix, cluster string) *listenerv3.Filter {
	return TCPProxy(statPrefix, []*ir.Destination{{Cluster: cluster, Weight: 1}})
}

// AuthzHTTPFilters enforce authorization on HTTP: CUSTOM first, then one RBAC filter per
// action in Istio's order (DENY, AUDIT, ALLOW), dry-run rules as shadow rules.
func AuthzHTTPFilters(authz Authz) []*hcmv3.HttpFilter {
	filters := CustomHTTPFilters(authz.Custom)
	for _, set := range authz.HTTP {
		cfg := &rbachttpv3.RBAC{}
		if set.Shadow != nil {
			cfg.ShadowRulesStatPrefix = "istio_dry_run_" + set.Action + "_"
		}
		filters = append(filters, &hcmv3.HttpFilter{Name: RBACFilterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: PackRBAC(cfg, set.Rules, set.Shadow)}})
	}
	return filters
}

// AuthzNetworkFilters enforce authorization on TCP streams, in the same order.
func AuthzNetworkFilters(authz Authz, stat string) []*listenerv3.Filter {
	filters := CustomNetworkFilters(authz.Custom, stat)
	for _, set := range authz.TCP {
		cfg := &rbacnetv3.RBAC{StatPrefix: stat}
		if set.Shadow != nil {
			cfg.ShadowRulesStatPrefix = "istio_dry_run_" + set.Action + "_"
		}
		filters = append(filters, &listenerv3.Filter{Name: NetworkRBACFilter,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: PackRBAC(cfg, set.Rules, set.Shadow)}})
	}
	return filters
}
