package waypointgen

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	setfilterstatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	setfilterstatenetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/set_filter_state/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/xds/render"
)

// Traffic addressed to a pod that uses the waypoint for its own traffic
// (istio.io/use-waypoint on the pod or its namespace, on a waypoint for workloads or
// all) arrives with the pod's IP:port as the tunnel's destination. It matches the
// direct chains on the pods' addresses: HTTP (by the client's protocol) and TCP, each
// with the policies that target the waypoint, and goes on unchanged to the pod
// through encap, which hands the connection to connect_originate for its tunnel.

const (
	directHTTP = "direct-http"
	directTCP  = "direct-tcp"
	// encap is the cluster that passes a direct connection to connect_originate.
	encap = "encap"
	// networkSetFilterState is the network filter's name.
	networkSetFilterState = "envoy.filters.network.set_filter_state"
)

// passDestination shares the destination original_dst restored on main_internal with
// the next hop: filter state shared ONCE crosses one internal connection only, so
// connect_originate would not see connect_terminate's.
func passDestination() *listenerv3.Filter {
	return render.NetworkFilter(networkSetFilterState, &setfilterstatenetv3.Config{
		OnNewConnection: []*setfilterstatev3.FilterStateValue{shared(stateLocalIP, "%FILTER_STATE("+stateLocalIP+":PLAIN)%", "")},
	})
}

// directChains are the chains for pod-addressed traffic, nil when the waypoint
// serves no pods (scope.Workloads lists only pods whose waypoint takes their traffic).
func (w *waypoint) directChains() []*listenerv3.FilterChain {
	if len(w.scope.Workloads) == 0 {
		return nil
	}
	match := func(alpn ...string) *listenerv3.FilterChainMatch {
		m := &listenerv3.FilterChainMatch{ApplicationProtocols: alpn}
		for _, a := range w.scope.Workloads {
			m.PrefixRanges = append(m.PrefixRanges, &corev3.CidrRange{AddressPrefix: a, PrefixLen: wrapperspb.UInt32(hostBits(a))})
		}
		return m
	}
	authz := render.WaypointAuthz(w.in, w.scope, nil)
	peerByFilterState(authz)
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     directHTTP,
		HttpFilters:    append(render.AuthzHTTPFilters(authz), render.EnvoyHTTPFilters()...),
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: directHTTP,
			VirtualHosts: []*routev3.VirtualHost{{Name: directHTTP, Domains: []string{"*"}, Routes: []*routev3.Route{{
				Name:  directHTTP,
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: encap},
					Timeout:          durationpb.New(0),
				}},
			}}}},
		}},
	}
	return []*listenerv3.FilterChain{
		{Name: directHTTP, FilterChainMatch: match("http/1.1", "h2c"),
			Filters: []*listenerv3.Filter{passDestination(), render.NetworkFilter(render.HCMFilter, hcm)}},
		{Name: directTCP, FilterChainMatch: match(),
			Filters: append(append([]*listenerv3.Filter{passDestination()}, render.AuthzNetworkFilters(authz, directTCP)...), render.TCPTo(directTCP, encap))},
	}
}
