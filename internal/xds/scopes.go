package xds

import (
	"cmp"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/gatewaygen"
	"github.com/meshd-io/meshd/internal/xds/grpcgen"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/sidecargen"
	"github.com/meshd-io/meshd/internal/xds/ztunnelgen"
)

// generators render each proxy class's config.
var generators = map[string]struct {
	generate func(*ir.IR, render.Scope, *render.Memo) *render.Resources
	flavor   render.Flavor
}{
	ClassGRPC:    {grpcgen.GenerateWith, render.Proxyless},
	ClassSidecar: {sidecargen.GenerateWith, render.Envoy},
	// A gateway's config is its own Gateway's, small next to a mesh's: rendered whole.
	ClassGateway: {func(in *ir.IR, s render.Scope, _ *render.Memo) *render.Resources { return gatewaygen.Generate(in, s) }, render.Envoy},
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
	eds    []*render.EDSCluster
	// memo and marshalled let a regeneration cost what changed: protos rendered for
	// services the IR carries over are handed out again, and their bytes reused.
	memo       render.Memo
	marshalled marshalMemo
	// flavor is what the scope's endpoints are rendered for: its class's, but a
	// waypoint's tunnels to its workloads (set by regenerate).
	flavor render.Flavor
	// edsComplete is true when the endpoints cache holds an entry for every cluster in
	// eds (none failed to render): a regeneration then need not look each one up.
	edsComplete bool
	// from is the IR the scope was last rendered from, and services the services it
	// was rendered for (sidecar and proxyless scopes), by hostname: a config update
	// that changes none of them and leaves the rest of what the scope reads alone
	// renders it alike (see unchanged).
	from     *ir.IR
	services []*ir.Service
}

// keyFor is the scope of a proxy under the current IR. Callers hold s.mu.
func (s *Server) keyFor(info nodeInfo) scopeKey {
	k := scopeKey{Class: info.Class, Namespace: info.Namespace}
	switch {
	case info.Class == ClassZtunnel:
		// Every ztunnel knows every workload: one scope, whatever its namespace.
		k.Namespace = ""
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
	if _, ok := generators[info.Class]; !ok && info.Class != ClassZtunnel {
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
	for _, t := range typesOf(info.Class) {
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

func resources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// edsChanges reports, by index into cur, which EDS clusters are new or render
// otherwise than in prev. Generators list clusters in a stable order, so most pair up
// by index; the rest are looked up by name.
func edsChanges(prev, cur []*render.EDSCluster) func(int) bool {
	var byName map[string]*render.EDSCluster
	return func(i int) bool {
		c := cur[i]
		if i < len(prev) && prev[i].Name == c.Name {
			return !prev[i].Equal(c)
		}
		if byName == nil {
			byName = make(map[string]*render.EDSCluster, len(prev))
			for _, p := range prev {
				byName[p.Name] = p
			}
		}
		old, ok := byName[c.Name]
		return !ok || !old.Equal(c)
	}
}

// regenerateAll regenerates every scope that prev's successor (s.ir) may render
// otherwise, as many at once as there are CPUs: scopes share nothing a regeneration
// writes but the shared entries table, which locks, and a config change regenerates
// every such scope (40 in a fleet of sidecars and proxyless clients in 20 namespaces,
// each a few milliseconds). A generator's panic is raised again here, in the caller's
// goroutine, once the others are done. Callers hold s.mu.
func (s *Server) regenerateAll(prev *ir.IR) {
	rest := sameBesidesServices(prev, s.ir)
	var changed []string
	if rest {
		changed = changedServices(prev, s.ir)
	}
	work := make(chan *scope)
	var wg sync.WaitGroup
	var failed atomic.Pointer[any]
	for range min(runtime.GOMAXPROCS(0), len(s.scopes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drained := false
			defer func() {
				if r := recover(); r != nil {
					s.log.Error(nil, "a generator panicked", "panic", r, "stack", string(debug.Stack()))
					failed.CompareAndSwap(nil, &r)
				}
				if !drained { // a panic or runtime.Goexit: let the sender finish
					for range work {
					}
				}
			}()
			for sc := range work {
				if !rest || !s.unchanged(sc, prev, changed) {
					s.regenerate(sc)
				}
			}
			drained = true
		}()
	}
	for _, sc := range s.scopes {
		work <- sc
	}
	close(work)
	wg.Wait()
	if r := failed.Load(); r != nil {
		panic(*r)
	}
}

// regenerate renders a scope's config from the current IR and publishes it. Callers
// hold s.mu.
func (s *Server) regenerate(sc *scope) {
	if s.ir == nil {
		return
	}
	if sc.key.Class == ClassZtunnel {
		s.regenerateZtunnel(sc)
		return
	}
	gen := generators[sc.key.Class]
	flavor := gen.flavor
	if sc.key.Class == ClassGateway && s.ir.GatewayClassOf(sc.key.Namespace, sc.client.Gateway) == ir.ClassWaypoint {
		flavor = render.Waypoint
		sc.client.Workloads = s.waypointWorkloads(sc)
	}
	reflavored := flavor != sc.flavor
	sc.flavor = flavor
	sc.memo.Begin(s.ir)
	res := gen.generate(s.ir, sc.client, &sc.memo)
	sc.memo.End()
	sc.from, sc.services = s.ir, res.Services
	sc.marshalled.begin()
	defer sc.marshalled.end()
	rerender := edsChanges(sc.eds, res.EDS)
	sameNames := len(sc.eds) == len(res.EDS) && slices.EqualFunc(sc.eds, res.EDS, func(a, b *render.EDSCluster) bool { return a.Name == b.Name })
	sc.eds = res.EDS
	// Make before break, as the xDS protocol asks of a management server: clusters,
	// then their endpoints, then the listeners and the routes that name them; stale
	// clusters and their endpoints go last, once no route names them. An incremental
	// stream sends its responses in the order its caches were updated (one channel per
	// stream), so its proxy never routes to a cluster it has not been sent (Envoy
	// answers 503 "no cluster", grpc-go fails the call); a watch awaiting an ACK gets
	// its type's change when the ACK comes, and streamOrder keeps the order then too.
	// State-of-the-world streams, go-control-plane's, have a channel per type: they
	// keep the order while their watches are open, and otherwise behave as istiod's.
	goneClusters := s.publishAdding(sc, resourcev3.ClusterType, resources(res.Clusters))
	// Endpoints are rendered again only for clusters that are new or render otherwise;
	// endpoint changes come through UpdateEndpoints.
	// A cluster that renders as before had its endpoints published before: when every
	// cluster did, none is looked up (a locked lookup per cluster, thousands a pass).
	endpoints, complete := sc.caches[resourcev3.EndpointType], sc.edsComplete
	sc.edsComplete = s.publishEndpoints(sc, func(i int, c *render.EDSCluster) bool {
		return reflavored || rerender(i) || (!complete && endpoints.get(c.Name) == nil)
	}, map[string]*cachedEntry{})
	s.publish(sc, resourcev3.ListenerType, resources(res.Listeners))
	s.publish(sc, resourcev3.RouteType, resources(res.Routes))
	sc.caches[resourcev3.ClusterType].update(nil, goneClusters)
	// Clusters the scope no longer has lose their endpoints.
	if sameNames {
		return
	}
	keep := map[string]bool{}
	for _, c := range sc.eds {
		keep[c.Name] = true
	}
	var gone []string
	for _, n := range endpoints.names() {
		if !keep[n] {
			gone = append(gone, n)
		}
	}
	endpoints.update(nil, gone)
}

// unchanged reports whether a sidecar or proxyless scope rendered from prev would
// render alike from the current IR, whose parts besides services are prev's (the
// caller checked): none of the services the update changed, added or removed
// (changed, by hostname) is one the scope was rendered for, or one it would now be.
// Incremental translation gives a service a new pointer whenever anything its
// resources depend on changed (the memos rely on the same, and a route naming a new
// service makes its own service new too), so the scopes a change does not reach,
// as those a Sidecar keeps it away from, are not rendered at all; the check costs
// what changed. Callers hold s.mu.
func (s *Server) unchanged(sc *scope, prev *ir.IR, changed []string) bool {
	if sc.from != prev || (sc.key.Class != ClassSidecar && sc.key.Class != ClassGRPC) {
		return false
	}
	ns := sc.client.Namespace
	sidecar := s.ir.SidecarFor(ns, sc.client.Labels)
	for _, h := range changed {
		if _, had := slices.BinarySearchFunc(sc.services, h, func(svc *ir.Service, h string) int { return cmp.Compare(svc.Hostname, h) }); had {
			return false
		}
		if svc := s.ir.Service(h); svc != nil && render.VisibleTo(svc, ns) && (sidecar == nil || sidecar.MayNeed(ns, svc.Namespace, h)) {
			return false
		}
	}
	sc.from = s.ir
	s.unchangedScopes.Add(1)
	return true
}

// changedServices are the hostnames whose service one IR has and the other has not,
// or has as another *ir.Service. Both list services by hostname.
func changedServices(prev, cur *ir.IR) []string {
	var out []string
	a, b := prev.Services, cur.Services
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].Hostname < b[0].Hostname):
			out, a = append(out, a[0].Hostname), a[1:]
		case len(a) == 0 || b[0].Hostname < a[0].Hostname:
			out, b = append(out, b[0].Hostname), b[1:]
		default:
			if a[0] != b[0] {
				out = append(out, b[0].Hostname)
			}
			a, b = a[1:], b[1:]
		}
	}
	return out
}

// sameBesidesServices reports whether two IRs agree on everything sidecar and
// proxyless generators read besides services: the root namespace and trust domain,
// the security policies (translated objects carried over as the same pointers), the
// ext_authz providers, the Sidecars, and what makes up client signatures.
func sameBesidesServices(a, b *ir.IR) bool {
	if a == nil || b == nil {
		return false
	}
	return a.RootNamespace == b.RootNamespace && a.TrustDomain == b.TrustDomain && a.RegistryOnly == b.RegistryOnly && a.SameClientSignatures(b) &&
		slices.Equal(a.PeerAuthentications, b.PeerAuthentications) && slices.Equal(a.AuthorizationPolicies, b.AuthorizationPolicies) &&
		reflect.DeepEqual(a.AuthzProviders, b.AuthzProviders) &&
		slices.EqualFunc(a.Sidecars, b.Sidecars, func(x, y *ir.Sidecar) bool { return x.Key == y.Key })
}

// waypointWorkloads are the addresses of the pods whose own traffic a waypoint
// scope's waypoint serves. Callers hold s.mu.
func (s *Server) waypointWorkloads(sc *scope) []string {
	return ztunnelgen.WaypointWorkloads(ztunnelgen.Input{IR: s.ir, Workloads: s.workloads}, sc.key.Namespace, sc.client.Gateway)
}

// watchedNodes are the nodes of the open watches. It takes watchMu, and may be called
// with s.mu held: nothing takes s.mu while holding watchMu.
func (s *Server) watchedNodes() []nodeInfo {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	out := make([]nodeInfo, 0, len(s.watches))
	for e := range s.watches {
		out = append(out, e.info)
	}
	return out
}

// rebaseScopes keeps each scope rendered as its proxies need under a new IR. A scope
// renders with the labels and locality of the proxy that created it, which stand for
// every proxy of the same signature; new selectors can move that proxy elsewhere while
// others stay, and the scope must then render with one of theirs. A scope left with no
// proxy of its key renders with none of the selectors' labels (a namespace scope) or
// goes (its proxies move to their new scopes). Callers hold s.mu, with s.ir the new IR.
func (s *Server) rebaseScopes(proxies []nodeInfo) {
	for key, sc := range s.scopes {
		if key.Class == ClassGateway || s.keyFor(sc.info()) == key {
			continue
		}
		rebased := false
		for _, p := range proxies {
			if p.Class == key.Class && p.Namespace == key.Namespace && s.keyFor(p) == key {
				sc.client.Labels, sc.client.Locality = p.Labels, p.Locality
				rebased = true
				break
			}
		}
		if !rebased {
			sc.client.Labels, sc.client.Locality = nil, model.Locality{}
			if s.keyFor(sc.info()) != key {
				delete(s.scopes, key)
				continue
			}
		}
		sc.memo = render.Memo{} // rendered for other labels
		sc.from, sc.services = nil, nil
	}
}

// info is the node the scope renders for.
func (sc *scope) info() nodeInfo {
	return nodeInfo{Class: sc.key.Class, Namespace: sc.key.Namespace, Gateway: sc.client.Gateway,
		Labels: sc.client.Labels, Locality: sc.client.Locality}
}
