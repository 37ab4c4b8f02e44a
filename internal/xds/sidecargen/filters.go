package sidecargen

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// Envoy's extension names for the filters sidecars use.
const (
	hcmFilter           = "envoy.filters.network.http_connection_manager"
	tcpProxyFilter      = "envoy.filters.network.tcp_proxy"
	originalDstFilter   = "envoy.filters.listener.original_dst"
	tlsInspectorFilter  = "envoy.filters.listener.tls_inspector"
	httpInspectorFilter = "envoy.filters.listener.http_inspector"
)

// Application protocols the http_inspector reports for plaintext HTTP.
var plaintextHTTP = []string{"http/1.1", "h2c"}

func networkFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: render.MustAny(m)}}
}

func listenerFilter(name string, m proto.Message) *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: name, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: render.MustAny(m)}}
}

func tlsInspector() *listenerv3.ListenerFilter {
	return listenerFilter(tlsInspectorFilter, &tlsinspectorv3.TlsInspector{})
}

func httpInspector() *listenerv3.ListenerFilter {
	return listenerFilter(httpInspectorFilter, &httpinspectorv3.HttpInspector{})
}

func originalDst() *listenerv3.ListenerFilter {
	return listenerFilter(originalDstFilter, &originaldstv3.OriginalDst{})
}

// httpFilters are the HTTP filters of every sidecar HTTP connection manager: fault and
// CORS read their config from routes; the router comes last.
func httpFilters() []*hcmv3.HttpFilter {
	f := func(name string, m proto.Message) *hcmv3.HttpFilter {
		return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: render.MustAny(m)}}
	}
	return []*hcmv3.HttpFilter{
		f(render.FaultFilter, &faultv3.HTTPFault{}),
		f(render.CORSFilter, &corsv3.Cors{}),
		f(render.RouterFilter, &routerv3.Router{}),
	}
}

// outboundHTTP is the outbound HTTP connection manager of one port: routes from RDS
// under the port's number, WebSocket upgrades passed through, as in Istio.
func outboundHTTP(statPrefix, rds string) *listenerv3.Filter {
	return networkFilter(hcmFilter, &hcmv3.HttpConnectionManager{
		StatPrefix:     statPrefix,
		HttpFilters:    httpFilters(),
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: render.ADSSource(), RouteConfigName: rds}},
	})
}

// tcpProxy forwards connections to one cluster or splits them by weight. Envoy needs
// weights of at least 1, so zero-weight destinations are left out.
func tcpProxy(statPrefix string, dests []*ir.Destination) *listenerv3.Filter {
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
	return networkFilter(tcpProxyFilter, tp)
}

// tcpTo forwards every connection to one cluster.
func tcpTo(statPrefix, cluster string) *listenerv3.Filter {
	return tcpProxy(statPrefix, []*ir.Destination{{Cluster: cluster, Weight: 1}})
}
