package adsclient

import (
	"fmt"
	"maps"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// unrouted lists the route targets of routes that name a cluster the proxy does not
// hold: where Envoy answers 503 with the "NC" (no cluster) flag and grpc-go fails the
// call. The xDS protocol asks a management server to send clusters before the routes
// that name them, and to remove them only after (make before break), so a client
// that ACKs promptly never holds such a route.
func unrouted(routes map[string]*routev3.RouteConfiguration, holds func(cluster string) bool) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(routes)) {
		for _, vh := range routes[name].GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				action := r.GetRoute()
				targets := []string{action.GetCluster()}
				for _, wc := range action.GetWeightedClusters().GetClusters() {
					targets = append(targets, wc.GetName())
				}
				for _, c := range targets {
					if c != "" && !holds(c) {
						out = append(out, fmt.Sprintf("route configuration %s, virtual host %s: unknown cluster %s", name, vh.GetName(), c))
					}
				}
			}
		}
	}
	return out
}
