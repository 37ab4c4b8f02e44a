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
)

// Scope is what makes one client's config differ from another's: its namespace
// (exportTo, DestinationRule selection).
type Scope struct {
	Namespace string
}

// Resources are the config for one scope.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	// EDS are the clusters whose endpoints the client asks for: the input to the EDS
	// fast path, which renders ClusterLoadAssignments without re-translating.
	EDS []EDSCluster
}

// EDSCluster says which endpoints a cluster's ClusterLoadAssignment holds.
type EDSCluster struct {
	Name     string
	Hostname string
	Port     uint32
	// Labels filter endpoints for a subset cluster.
	Labels map[string]string
}

// ListenerName is the api_listener name for a service port: the xds:/// target.
func ListenerName(host string, port uint32) string {
	return fmt.Sprintf("%s:%d", host, port)
}

// Generate renders the config a client in scope sees.
func Generate(in *ir.IR, scope Scope) *Resources {
	out := &Resources{}
	byHost := make(map[string]*ir.Service, len(in.Services))
	for _, svc := range in.Services {
		byHost[svc.Hostname] = svc
	}
	find := func(host string) (*ir.Service, *ir.DestinationPolicy) {
		svc := byHost[host]
		if svc == nil {
			return nil, nil
		}
		return svc, svc.SelectPolicy(scope.Namespace, in.RootNamespace)
	}
	for _, svc := range in.Services {
		if !svc.ExportTo.VisibleTo(scope.Namespace) && svc.Namespace != scope.Namespace {
			continue
		}
		policy := svc.SelectPolicy(scope.Namespace, in.RootNamespace)
		for _, port := range svc.Ports {
			name := ListenerName(svc.Hostname, port.Number)
			out.Listeners = append(out.Listeners, apiListener(name))
			table := scopedTable(selectTable(port, scope.Namespace), scope)
			out.Routes = append(out.Routes, routeConfig(name, svc, port, table, find))
			out.Clusters = append(out.Clusters, cluster(ir.ClusterName(port.Number, "", svc.Hostname), policy.EffectivePolicy(port.Number, "")))
			out.EDS = append(out.EDS, EDSCluster{Name: ir.ClusterName(port.Number, "", svc.Hostname), Hostname: svc.Hostname, Port: port.Number})
			if policy == nil {
				continue
			}
			for _, ss := range policy.Subsets {
				cn := ir.ClusterName(port.Number, ss.Name, svc.Hostname)
				out.Clusters = append(out.Clusters, cluster(cn, policy.EffectivePolicy(port.Number, ss.Name)))
				out.EDS = append(out.EDS, EDSCluster{Name: cn, Hostname: svc.Hostname, Port: port.Number, Labels: ss.Labels})
			}
		}
	}
	return out
}

// selectTable picks the first route table visible to the client's namespace, or the
// port's default route.
func selectTable(port *ir.Port, ns string) *ir.RouteTable {
	for _, t := range port.RouteTables {
		if t.ExportTo.VisibleTo(ns) {
			return t
		}
	}
	return port.Default
}

// scopedTable drops the matches a client in scope can never satisfy (sourceNamespace of
// another namespace; sourceLabels, which need the client's labels and are not yet
// part of the scope) and the routes left with no match.
func scopedTable(t *ir.RouteTable, scope Scope) *ir.RouteTable {
	out := &ir.RouteTable{Source: t.Source, ExportTo: t.ExportTo}
	for _, r := range t.Routes {
		if len(r.Matches) == 0 {
			out.Routes = append(out.Routes, r)
			continue
		}
		var kept []*ir.Match
		for _, m := range r.Matches {
			if (m.SourceNamespace == "" || m.SourceNamespace == scope.Namespace) && len(m.SourceLabels) == 0 {
				kept = append(kept, m)
			}
		}
		if len(kept) == 0 {
			continue
		}
		c := *r
		c.Matches = kept
		out.Routes = append(out.Routes, &c)
	}
	return out
}
