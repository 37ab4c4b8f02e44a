package xds

import (
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/gatewaygen"
	"github.com/meshd-io/meshd/internal/xds/grpcgen"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/sidecargen"
)

// generators render each proxy class's config.
var generators = map[string]struct {
	generate func(*ir.IR, render.Scope) *render.Resources
	flavor   render.Flavor
}{
	ClassGRPC:    {grpcgen.Generate, render.Proxyless},
	ClassSidecar: {sidecargen.Generate, render.Envoy},
	ClassGateway: {gatewaygen.Generate, render.Envoy},
}

// scopeKey names a scope: proxies of one class, in one namespace, whose labels
// satisfy the same client selectors of the IR (ir.ClientSignature). They all get the
// same config, generated and marshalled once.
type scopeKey struct {
	Class, Namespace, Signature string
}

func (k scopeKey) String() string {
	if k.Signature == "" {
		return k.Class + "/" + k.Namespace
	}
	return k.Class + "/" + k.Namespace + "/" + k.Signature
}

// scope is the config of one scopeKey: a cache per type, and the EDS clusters it uses.
type scope struct {
	key scopeKey
	// client is the namespace, labels and locality of the first proxy of the scope; any
	// of its proxies would give the same config, since only the signature matters.
	client render.Scope
	caches map[string]*resourceCache
	eds    []render.EDSCluster
}

// keyFor is the scope of a proxy under the current IR. Callers hold s.mu.
func (s *Server) keyFor(info nodeInfo) scopeKey {
	k := scopeKey{Class: info.Class, Namespace: info.Namespace}
	switch {
	case info.Class == ClassGateway:
		// A gateway's config is its Gateway's, whatever else its labels say.
		k.Signature = "gateway=" + info.Gateway
	case s.ir != nil:
		k.Signature = s.ir.ClientSignature(info.Labels, info.Locality.String())
	}
	return k
}

// scopeFor returns (creating and filling on first use) the scope of a proxy.
func (s *Server) scopeFor(info nodeInfo) (*scope, error) {
	if _, ok := generators[info.Class]; !ok {
		return nil, fmt.Errorf("proxy class %q is not served", info.Class)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.keyFor(info)
	if sc := s.scopes[key]; sc != nil {
		return sc, nil
	}
	client := render.Scope{Namespace: info.Namespace, Labels: info.Labels, Locality: info.Locality, Gateway: info.Gateway}
	sc := &scope{key: key, client: client, caches: map[string]*resourceCache{}}
	for _, t := range typeURLs {
		sc.caches[t] = newResourceCache(t)
	}
	s.scopes[key] = sc
	s.regenerate(sc)
	return sc, nil
}

// WarmScope creates a scope's caches before any proxy of it connects (benchmarks and
// tests use it; proxies create their scope on first request).
func (s *Server) WarmScope(class, namespace string) {
	_, _ = s.scopeFor(nodeInfo{Class: class, Namespace: namespace})
}

// regenerate renders a scope's config from the current IR and publishes it. Callers
// hold s.mu.
func (s *Server) regenerate(sc *scope) {
	if s.ir == nil {
		return
	}
	gen := generators[sc.key.Class]
	res := gen.generate(s.ir, sc.client)
	sc.eds = res.EDS
	byType := map[string]map[string]types.Resource{
		resourcev3.ListenerType: {}, resourcev3.RouteType: {}, resourcev3.ClusterType: {},
	}
	for _, l := range res.Listeners {
		byType[resourcev3.ListenerType][l.Name] = l
	}
	for _, r := range res.Routes {
		byType[resourcev3.RouteType][r.Name] = r
	}
	for _, c := range res.Clusters {
		byType[resourcev3.ClusterType][c.Name] = c
	}
	for _, t := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType} {
		s.publish(sc, t, byType[t])
	}
	s.publishEndpoints(sc, func(render.EDSCluster) bool { return true }, map[string]*cachedEntry{})
	// Clusters the scope no longer has lose their endpoints.
	keep := map[string]bool{}
	for _, c := range sc.eds {
		keep[c.Name] = true
	}
	var gone []string
	for _, n := range sc.caches[resourcev3.EndpointType].names() {
		if !keep[n] {
			gone = append(gone, n)
		}
	}
	sc.caches[resourcev3.EndpointType].update(nil, gone)
}
