package xds

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/meshd-io/meshd/internal/xds/ztunnelgen"
)

// typesOf are the resource types a class's scope serves.
func typesOf(class string) []string {
	if class == ClassZtunnel {
		return []string{ztunnelgen.AddressType, ztunnelgen.AuthorizationType}
	}
	return typeURLs
}

// regenerateZtunnel renders ztunnel's workload discovery from the IR, the workloads
// and the endpoints, and publishes what changed. Callers hold s.mu.
func (s *Server) regenerateZtunnel(sc *scope) {
	res := ztunnelgen.Generate(ztunnelgen.Input{IR: s.ir, Workloads: s.workloads, Endpoints: s.endpoints})
	sc.marshalled.begin()
	defer sc.marshalled.end()
	publishAll(s, sc, ztunnelgen.AddressType, res.Addresses)
	publishAll(s, sc, ztunnelgen.AuthorizationType, res.Authorizations)
}

// publishAll publishes named resources of one type.
func publishAll[T types.Resource](s *Server, sc *scope, typeURL string, in []ztunnelgen.Named[T]) {
	resources := make([]types.Resource, len(in))
	names := make([]string, len(in))
	for i, r := range in {
		resources[i], names[i] = r.Resource, r.Name
	}
	s.publishNamed(sc, typeURL, resources, names)
}
