// Package grpcgen renders the IR as xDS for proxyless gRPC clients (node metadata
// GENERATOR=grpc): one api_listener per service port named "<fqdn>:<port>" (the
// xds:/// target), a route configuration of the same name, EDS clusters named
// outbound|<port>|<subset>|<fqdn>, and their endpoints. It is pure: the same IR and
// scope give the same resources, sorted by name.
package grpcgen

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

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
func Generate(in *ir.IR, scope Scope) *Resources { return GenerateWith(in, scope, nil) }

// servicePort is what one service port renders to.
type servicePort struct {
	listener *listenerv3.Listener
	route    *routev3.RouteConfiguration
	clusters []*clusterv3.Cluster
	eds      []render.EDSCluster
}

// GenerateWith is Generate reusing, through memo, what was rendered for services the
// IR carries over unchanged.
func GenerateWith(in *ir.IR, scope Scope, memo *render.Memo) *Resources {
	out := &Resources{}
	find := render.LookupFor(in, scope)
	// A Sidecar scopes proxyless clients as it does Envoy sidecars (istiod's gRPC
	// generator reads the same sidecar scope).
	egress := render.EgressFor(in, scope)
	memo.Depends(egress.Key())
	out.Services = egress.Services(in, scope)
	for _, svc := range out.Services {
		for _, port := range svc.Ports {
			listens := egress.Listens(svc, port)
			table := func() *ir.RouteTable { return render.SidecarTable(egress, svc, port, scope) }
			if !listens {
				// Imported by a Unix domain socket listener only: its tables apply.
				if sock := egress.SocketOf(svc); sock != nil {
					listens = true
					table = func() *ir.RouteTable { return render.SocketTable(egress, sock, svc, port, scope) }
				}
			}
			if !listens && !egress.Routed(svc) {
				continue
			}
			p := render.Memoized(memo, svc, port.Number, render.PartGRPC, func() servicePort {
				name := ListenerName(svc.Hostname, port.Number)
				clusters, eds := render.ServiceClusters(svc, port, scope.Policy(in, svc), render.Proxyless)
				return servicePort{listener: apiListener(name), route: routeConfig(name, svc, table(), find),
					clusters: clusters, eds: eds}
			})
			out.Clusters = append(out.Clusters, p.clusters...)
			out.EDS = render.AppendEDS(out.EDS, p.eds)
			if listens {
				out.Listeners = append(out.Listeners, p.listener)
				out.Routes = append(out.Routes, p.route)
			}
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
