package sidecargen

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Short names for the Envoy types this package sorts and builds.
type (
	listenerT    = listenerv3.Listener
	routeConfigT = routev3.RouteConfiguration
	clusterT     = clusterv3.Cluster
)
