// Package xds serves the generated config to proxies over ADS with go-control-plane.
// Config is generated once per proxy class and scope (the client's namespace) and each
// resource is marshalled once: every proxy of a scope reads the same LinearCache
// entries, so a push costs what changed, not the number of proxies.
package xds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/protomarshal"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// typeURLs are the resource types meshd serves, in the order xDS clients need them.
var typeURLs = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType}

// Server holds the current IR and endpoints and one set of caches per scope.
type Server struct {
	log logr.Logger

	mu        sync.Mutex
	ir        *ir.IR
	endpoints model.EndpointIndex
	// workloads are the pods and namespace labels ztunnel's config is made of.
	workloads model.Workloads
	scopes    map[scopeKey]*scope
	ready     chan struct{}
	readyOnce sync.Once
	// unchangedScopes counts the scopes config updates left as they were (tests read
	// it to know the shortcut ran).
	unchangedScopes atomic.Int64

	// watches are the open watches of every stream, so that a proxy whose scope
	// changes (its labels now satisfy other selectors) can be moved to the new one.
	watchMu sync.Mutex
	watches map[*watchEntry]struct{}

	// seq numbers config updates; synced is, per connected proxy, the last seq at
	// which Progress saw it hold its config in full.
	seq    uint64
	synced map[string]uint64

	tracker *Tracker
	// ports numbers the ServeWith calls, whose servers number streams each from 1.
	ports atomic.Int64
	// subscriptions are the name sets incremental streams subscribe to, shared.
	subscriptions *nameSets
	// entries are the cache entries of every scope, shared where they are alike.
	entries *sharedEntries
	// secrets serves SDS to authenticated streams; nil until SetSecretIssuer.
	secrets *secrets
	// credentials serves Gateway certificates; nil until SetCredentialReader.
	credentials *credentialStore
}

// NewServer returns a server with no config; it serves once Update has been called.
func NewServer(log logr.Logger) *Server {
	return &Server{log: log, scopes: map[scopeKey]*scope{}, watches: map[*watchEntry]struct{}{},
		ready: make(chan struct{}), tracker: NewTracker(), subscriptions: newNameSets(), entries: newSharedEntries()}
}

// Tracker reports connected proxies and their ACKs and NACKs.
func (s *Server) Tracker() *Tracker { return s.tracker }

// ServiceCount is how many services the current config has.
func (s *Server) ServiceCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ir == nil {
		return 0
	}
	return len(s.ir.Services)
}

// Ready is closed once the first config is in place.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Update publishes a new IR to every scope, sending only resources whose bytes changed,
// then moves proxies whose scope the new IR changes.
func (s *Server) Update(in *ir.IR) {
	// The lock is released even if a generator panics: xDS must not freeze.
	moved := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		moved := !in.SameClientSignatures(s.ir)
		prev := s.ir
		s.ir = in
		s.seq++
		if moved {
			s.rebaseScopes(s.watchedNodes())
		}
		s.regenerateAll(prev)
		s.readyOnce.Do(func() { close(s.ready) })
		return moved
	}()
	// Most pushes leave every proxy's signature as it was: only a change of the
	// selectors (or of what makes locality matter) moves proxies between scopes.
	if moved {
		s.rescope()
	}
	s.tracker.signal() // proxies are now behind the new config
}

// UpdateEndpoints is the EDS fast path: it re-renders only the ClusterLoadAssignments
// of service ports whose endpoints changed, once for all scopes that render them alike.
func (s *Server) UpdateEndpoints(idx model.EndpointIndex) { s.UpdateDiscovery(idx, nil) }

// UpdateDiscovery is the fast path of endpoints and workloads (nil: unchanged): EDS as
// UpdateEndpoints, and ztunnel's workload discovery when either changed, sending only
// the addresses whose bytes changed. Neither causes a translation.
func (s *Server) UpdateDiscovery(idx model.EndpointIndex, w *model.Workloads) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := idx.ChangedSince(s.endpoints)
	s.endpoints = idx
	workloadsChanged := w != nil && !w.Equal(s.workloads)
	if workloadsChanged {
		s.workloads = *w
	}
	if len(changed) == 0 && !workloadsChanged {
		return
	}
	shared := map[string]*cachedEntry{}
	for _, sc := range s.scopes {
		// ztunnel's config is the workloads; a waypoint's direct chains match the
		// pods that use it.
		if sc.key.Class == ClassZtunnel {
			s.regenerate(sc)
			continue
		}
		// A waypoint's direct chains match the pods that use it: regenerated only when
		// that set moved, not on every pod change of the cluster.
		if workloadsChanged && sc.flavor == render.Waypoint && !slices.Equal(s.waypointWorkloads(sc), sc.client.Workloads) {
			s.regenerate(sc) // then its endpoints, below
		}
		if len(changed) > 0 {
			s.publishEndpoints(sc, func(_ int, c *render.EDSCluster) bool {
				return changed[model.EndpointKey{Hostname: c.Hostname, Port: c.Port}]
			}, shared)
		}
	}
}

// publishEndpoints renders and publishes the scope's ClusterLoadAssignments for the
// clusters want selects, and reports whether every one rendered. shared holds the
// entries of one pass: scopes whose cluster renders alike (the same subset, and no
// failover from the client's own locality) share one marshalled entry.
func (s *Server) publishEndpoints(sc *scope, want func(int, *render.EDSCluster) bool, shared map[string]*cachedEntry) (rendered bool) {
	flavor := sc.flavor
	cache := sc.caches[resourcev3.EndpointType]
	var changed []*cachedEntry
	rendered = true
	for i, c := range sc.eds {
		if !want(i, c) {
			continue
		}
		key := edsShareKey(c, flavor, sc.client)
		e := shared[key]
		if e == nil {
			cla := render.Endpoints([]*render.EDSCluster{c}, s.endpoints, flavor, sc.client)[0]
			e = s.entry(resourcev3.EndpointType, c.Name, cla, sc)
			if e == nil {
				rendered = false
				continue
			}
			shared[key] = e
		}
		if old := cache.get(c.Name); old == nil || old.version != e.version {
			changed = append(changed, e)
		}
	}
	cache.update(changed, nil)
	return rendered
}

// edsShareKey names what a ClusterLoadAssignment depends on.
func edsShareKey(c *render.EDSCluster, f render.Flavor, client render.Scope) string {
	key := fmt.Sprintf("%d|%s|%v|%v|%v|%+v", f, c.Name, c.Labels, c.Failover, c.Distribute, c.Locality)
	if c.Failover || c.Distribute {
		key += "|" + client.Locality.String()
		// failoverPriority orders endpoints by the client's own values of its labels.
		if c.Locality != nil {
			for _, k := range c.Locality.FailoverPriority {
				key += "|" + k + "=" + client.Labels[k]
			}
		}
	}
	return key
}

// entry marshals a resource once into a cache entry, or logs and returns nil.
func (s *Server) entry(typeURL, name string, r types.Resource, sc *scope) *cachedEntry {
	b, err := protomarshal.Marshal(r) // deterministic: versions are hashes of the bytes
	if err != nil {
		s.log.Error(err, "marshal", "type", typeURL, "name", name, "scope", sc.key.String())
		return nil
	}
	return s.entries.share(newCachedEntry(typeURL, name, b))
}

// publish hands a type's resources to its cache: new or changed (by marshalled bytes)
// ones are updated, missing ones deleted, in one update: a proxy never sees the new
// resources next to the stale ones. A resource that fails validation is not
// published; the proxy keeps the last good version.
func (s *Server) publish(sc *scope, typeURL string, resources []types.Resource) {
	s.publishNamed(sc, typeURL, resources, names(resources))
}

// publishNamed is publish for resources whose names are given (names[i] is
// resources[i]'s), for types go-control-plane cannot name.
func (s *Server) publishNamed(sc *scope, typeURL string, resources []types.Resource, names []string) {
	changed, deleted := s.stage(sc, typeURL, resources, names)
	sc.caches[typeURL].update(changed, deleted)
}

// publishAdding is publish without the deletions, which it returns for the caller to
// make later (make before break: see regenerate).
func (s *Server) publishAdding(sc *scope, typeURL string, resources []types.Resource) (deleted []string) {
	changed, deleted := s.stage(sc, typeURL, resources, names(resources))
	sc.caches[typeURL].update(changed, nil)
	return deleted
}

// names are the resources' names.
func names(resources []types.Resource) []string {
	out := make([]string, len(resources))
	for i, r := range resources {
		out[i] = cachev3.GetResourceName(r)
	}
	return out
}

// stage compares a type's resources (names[i] is resources[i]'s) with what its cache
// holds: the entries new or changed by their marshalled bytes, and the names the
// cache holds that are no longer there.
func (s *Server) stage(sc *scope, typeURL string, resources []types.Resource, names []string) (changed []*cachedEntry, deleted []string) {
	cache := sc.caches[typeURL]
	// held counts the resources whose name the cache holds once changed is applied,
	// added those it did not hold before: it then holds others (to delete) only when
	// it holds more than held.
	held, added := 0, 0
	for i, r := range resources {
		// A proto published in the last pass (its service carried over) is what the
		// cache holds under its name: the scope's memo and caches change together, and
		// the memo forgets a proto in the pass it is not published. Looking it up in
		// the cache (a lock and a hash of its name) was a sixth of a one-change pass.
		if sc.marshalled.entry(r) != nil {
			held++
			continue
		}
		name := names[i]
		old := cache.get(name)
		e := s.checkedEntry(sc, typeURL, name, r, old)
		switch {
		case e == nil:
			if old != nil {
				held++ // the last good version stays
			}
			continue
		case old == nil:
			added++
			changed = append(changed, e)
		case old.version != e.version:
			changed = append(changed, e)
		}
		held++
	}
	if cache.len()+added > held {
		keep := make(map[string]bool, len(names))
		for _, n := range names {
			keep[n] = true
		}
		for _, name := range cache.names() {
			if !keep[name] {
				deleted = append(deleted, name)
			}
		}
	}
	return changed, deleted
}

// checkedEntry is r's cache entry, or nil (logged) when r cannot be published. A proto
// the generator handed out before (a carried-over service's) has its entry already;
// only bytes that differ from what is published (old) need validating.
func (s *Server) checkedEntry(sc *scope, typeURL, name string, r types.Resource, old *cachedEntry) *cachedEntry {
	if e := sc.marshalled.entry(r); e != nil {
		return e
	}
	m, err := sc.marshalled.marshal(r)
	if err != nil {
		s.log.Error(err, "marshal", "type", typeURL, "name", name, "scope", sc.key.String())
		return nil
	}
	if m.reused != nil {
		sc.marshalled.keep(r, m.reused, m)
		return m.reused
	}
	e := newCachedEntry(typeURL, name, m.bytes)
	if old == nil || old.version != e.version {
		if err := m.check(); err != nil {
			s.log.Error(err, "generated resource is invalid; keeping the last good version", "type", typeURL, "name", name, "scope", sc.key.String())
			return nil
		}
	}
	e = s.entries.share(e)
	sc.marshalled.keep(r, e, m)
	return e
}

// ProxyProgress says, for one connected proxy, whether it has acknowledged the current
// config of its scope, and what it last rejected.
type ProxyProgress struct {
	NodeID, Namespace string
	// UpToDate is true when, for every type the proxy subscribes to, it acknowledged
	// the version the server holds now.
	UpToDate bool
	// SyncedAt is the last config update (ConfigSeq) at which the proxy was seen to
	// hold its listeners, routes and clusters in full (endpoints are not an object's
	// config); 0 if never.
	SyncedAt uint64
	// Nack is the proxy's message for the newest version it rejected, if any.
	Nack string
}

// Progress reports every connected proxy against the current config. Versions are
// hashes of content, so a proxy is up to date when it acknowledged the version its
// subscription has now.
func (s *Server) Progress() []ProxyProgress {
	// Read in place, under the tracker's lock: the pipeline asks after every change of
	// what proxies hold, and a copy of 2,000 proxies' maps was megabytes each time.
	s.tracker.mu.Lock()
	defer s.tracker.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyProgress, 0, len(s.tracker.streams))
	expected := expectedVersions{}
	synced := make(map[string]uint64, len(s.tracker.streams))
	for _, p := range s.tracker.streams {
		pp, configUpToDate, ok := s.progress(p, expected)
		if !ok {
			continue
		}
		if configUpToDate {
			synced[p.NodeID] = s.seq
		} else if at, ok := s.synced[p.NodeID]; ok {
			synced[p.NodeID] = at
		}
		pp.SyncedAt = synced[p.NodeID]
		out = append(out, pp)
	}
	s.synced = synced // proxies gone are forgotten
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

// ProgressOf is Progress for the named proxies only, in no particular order: it
// computes no other proxy's versions, so it can be asked often while pushes run.
func (s *Server) ProgressOf(nodeIDs ...string) []ProxyProgress {
	want := make(map[string]bool, len(nodeIDs))
	for _, id := range nodeIDs {
		want[id] = true
	}
	s.tracker.mu.Lock()
	defer s.tracker.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ProxyProgress
	expected := expectedVersions{}
	for _, p := range s.tracker.streams {
		if !want[p.NodeID] {
			continue
		}
		if pp, configUpToDate, ok := s.progress(p, expected); ok {
			pp.SyncedAt = s.synced[p.NodeID]
			if configUpToDate {
				pp.SyncedAt = s.seq
			}
			out = append(out, pp)
		}
	}
	return out
}

// expectedVersions memoizes, within one progress report, the version a scope's
// proxies should hold: proxies of a scope mostly subscribe alike.
type expectedVersions map[expectedKey]string

type expectedKey struct {
	scope    scopeKey
	typeURL  string
	wildcard bool
	names    uint64
}

// progress is one proxy's progress but for SyncedAt, and whether it holds its scope's
// listeners, routes and clusters now; or false for a proxy that holds no object's
// routing config (ztunnel) or has no scope yet. Callers hold s.mu and the tracker's
// lock.
func (s *Server) progress(p *ProxyState, expected expectedVersions) (pp ProxyProgress, configUpToDate, ok bool) {
	if p.info.Class == ClassZtunnel {
		return ProxyProgress{}, false, false // not counted for Programmed
	}
	key := s.keyFor(p.info)
	sc := s.scopes[key]
	if sc == nil {
		return ProxyProgress{}, false, false
	}
	pp = ProxyProgress{NodeID: p.NodeID, Namespace: key.Namespace, UpToDate: true}
	configUpToDate = true
	for _, t := range p.Subscribed {
		cache := sc.caches[t]
		if cache == nil {
			continue // secrets: per identity, not part of the scope's config
		}
		names := p.Names[t]
		wildcard := len(names) == 0 || p.Delta
		memo := expectedKey{scope: key, typeURL: t, wildcard: wildcard, names: p.NamesKey[t]}
		want, ok := expected[memo]
		if !ok {
			want = cache.version(names, wildcard)
			expected[memo] = want
		}
		if p.Acked[t] != want {
			pp.UpToDate = false
			configUpToDate = configUpToDate && t == resourcev3.EndpointType
		}
		if nack, ok := p.Nacked[t]; ok {
			pp.Nack = nack.Message
		}
	}
	return pp, configUpToDate, true
}

// ConfigSeq numbers config updates: it grows by one with every Update.
func (s *Server) ConfigSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// callbacks are the tracker's hooks on one port's streams (go-control-plane's
// state-of-the-world server and deltaADS).
func (s *Server) callbacks() serverv3.Callbacks {
	return s.tracker.callbacks(s.log, s.ports.Add(1)<<40)
}

// Serve waits for the first config, then serves ADS on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.ServeWith(ctx, l, ServeOptions{})
}

// ServeWith is Serve with the options of one port: TLS, more services, and the
// authentication that binds streams to identities and turns on SDS.
func (s *Server) ServeWith(ctx context.Context, l net.Listener, opts ServeOptions) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	gs := grpc.NewServer(append([]grpc.ServerOption{grpc.ForceServerCodecV2(newResponseCodec())}, opts.GRPC...)...)
	cb := s.callbacks()
	xs := adsServer{Server: serverv3.NewServer(ctx, s, cb), delta: &deltaADS{ctx: ctx, server: s, callbacks: cb, sets: s.subscriptions}}
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, identityADS{AggregatedDiscoveryServiceServer: xs, identify: opts.Identify, log: s.log})
	if opts.Register != nil {
		opts.Register(gs)
	}
	go func() {
		<-ctx.Done()
		gs.GracefulStop()
	}()
	s.log.Info("serving xDS", "address", l.Addr().String(), "authenticated", opts.Identify != nil)
	if err := gs.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
