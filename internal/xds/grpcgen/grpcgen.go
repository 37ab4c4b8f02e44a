// Package grpcgen renders the IR as xDS for proxyless gRPC clients (node metadata
// GENERATOR=grpc): one api_listener per service port named "<fqdn>:<port>" (the
// xds:/// target), a route configuration of the same name, EDS clusters named
// outbound|<port>|<subset>|<fqdn>, and their endpoints. It is pure: the same IR and
// scope give the same resources, sorted by name.
package grpcgen

import (
	"fmt"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// Scope and Resources are shared by every proxy class.
type (
	Scope     = render.Scope
	Resources = render.Resources
)

// ListenerName is the api_listener name for a service port: the xds:/// target.
func ListenerName(host string, port uint32) string {
	return fmt.Sprintf("%s:%d", host, port)
}

// Generate renders the config a client in scope sees.
func Generate(in *ir.IR, scope Scope) *Resources {
	out := &Resources{}
	find := render.LookupFor(in, scope)
	for _, svc := range render.VisibleServices(in, scope) {
		policy := scope.Policy(in, svc)
		for _, port := range svc.Ports {
			name := ListenerName(svc.Hostname, port.Number)
			out.Listeners = append(out.Listeners, apiListener(name))
			table := render.ClientTable(port, scope)
			out.Routes = append(out.Routes, routeConfig(name, svc, table, find))
			clusters, eds := render.ServiceClusters(svc, port, policy, render.Proxyless)
			out.Clusters = append(out.Clusters, clusters...)
			out.EDS = append(out.EDS, eds...)
		}
	}
	if len(scope.ServerListeners) > 0 {
		mtls, authz := render.WorkloadMTLS(in, scope), render.WorkloadAuthz(in, scope)
		for _, name := range scope.ServerListeners {
			if l := serverListener(name, mtls, authz); l != nil {
				out.Listeners = append(out.Listeners, l)
			}
		}
	}
	return out
}
