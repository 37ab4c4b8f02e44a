package xds

import (
	"context"
	"errors"
	"slices"
	"sync"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshd-io/meshd/internal/xds/grpcgen"
)

// watchEntry is one open watch of a stream on its scope's cache. go-control-plane keeps
// one per stream and type and cancels it when the next request of that type arrives, so
// the registry holds exactly the watches a push or a move can answer.
type watchEntry struct {
	info nodeInfo
	key  scopeKey
	// sc is the scope whose cache holds the watch (a scope can be replaced under the
	// same key when the IR changes).
	sc *scope
	// Exactly one of the state-of-the-world and delta halves is set.
	req  *cachev3.Request
	ch   chan cachev3.Response
	dreq *cachev3.DeltaRequest
	dch  chan cachev3.DeltaResponse
	sub  cachev3.Subscription
	typ  string
	// ledger is an incremental stream's record across its watches (nil: none).
	ledger *deltaLedger
	inner  func() // cancels the watch on the cache that holds it now
	// closed is set when go-control-plane cancels the watch; gen counts moves.
	closed bool
	gen    int
	// moves counts moves in progress: go-control-plane changes the watch's
	// subscription as soon as its cancel returns, so the cancel waits for them.
	moves sync.WaitGroup
}

// CreateWatch implements go-control-plane's cache for state-of-the-world streams.
func (s *Server) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	info := parseNode(req.GetNode())
	e := &watchEntry{info: info, req: req, ch: ch, sub: sub, typ: req.GetTypeUrl()}
	if e.typ == resourcev3.SecretType {
		return s.secretWatch(e)
	}
	return s.watch(e)
}

// CreateDeltaWatch implements go-control-plane's cache for incremental streams (its
// server wants one; meshd's incremental streams are deltaADS's, which opens its
// watches with their ledger).
func (s *Server) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	return s.deltaWatch(req, parseNode(req.GetNode()), sub, ch, nil)
}

// deltaWatch opens an incremental watch; ledger is its stream's record of the type
// (nil: none, every name is compared).
func (s *Server) deltaWatch(req *cachev3.DeltaRequest, info nodeInfo, sub cachev3.Subscription, ch chan cachev3.DeltaResponse, ledger *deltaLedger) (func(), error) {
	e := &watchEntry{info: info, dreq: req, dch: ch, sub: sub, typ: req.GetTypeUrl(), ledger: ledger}
	if e.typ == resourcev3.SecretType {
		return s.secretWatch(e)
	}
	return s.watch(e)
}

// watch opens e on its scope's cache and registers it. If the IR changed the proxy's
// scope meanwhile, the watch moves at once.
func (s *Server) watch(e *watchEntry) (func(), error) {
	sc, err := s.scopeFor(e.info)
	if err != nil {
		return nil, err
	}
	s.addServerListeners(sc, e)
	inner, err := open(sc, e)
	if err != nil {
		return nil, err
	}
	s.watchMu.Lock()
	e.key, e.sc, e.inner = sc.key, sc, inner
	s.watches[e] = struct{}{}
	s.watchMu.Unlock()
	s.move(e)
	return func() {
		s.watchMu.Lock()
		delete(s.watches, e)
		e.closed = true
		cancel := e.inner
		s.watchMu.Unlock()
		// A move still opening the watch elsewhere reads its subscription; it sees
		// closed and cancels what it opened. Caches never block on the stream's
		// channel, so the move ends without this goroutine draining it.
		e.moves.Wait()
		cancel()
	}, nil
}

// addServerListeners renders, into the scope, the inbound listeners a proxyless gRPC
// server asks for by name (its own address is in the name) that the scope lacks.
func (s *Server) addServerListeners(sc *scope, e *watchEntry) {
	if e.info.Class != ClassGRPC || e.typ != resourcev3.ListenerType {
		return
	}
	names := e.req.GetResourceNames()
	if e.dreq != nil {
		names = e.dreq.GetResourceNamesSubscribe()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	for _, n := range names {
		if grpcgen.IsServerListener(n) && !slices.Contains(sc.client.ServerListeners, n) {
			sc.client.ServerListeners = append(sc.client.ServerListeners, n)
			added = true
		}
	}
	if added {
		slices.Sort(sc.client.ServerListeners)
		s.regenerate(sc)
	}
}

// open creates the watch on the scope's cache for e's type.
func open(sc *scope, e *watchEntry) (func(), error) {
	c := sc.caches[e.typ]
	if c == nil {
		return nil, errors.New("resource type " + e.typ + " is not served")
	}
	// A NACK carries the last version the proxy accepted (empty if it rejected its
	// first config); answering it with the same config again would loop, so the cache
	// waits for a change instead, and the proxy keeps its last good config. A watch
	// moved to another scope is answered with that scope's config all the same.
	if e.req != nil {
		return c.open(&cacheWatch{req: e.req, ch: e.ch, sub: e.sub, nacked: e.req.GetErrorDetail() != nil && e.gen == 0})
	}
	return c.open(&cacheWatch{dreq: e.dreq, dch: e.dch, sub: e.sub, nacked: e.dreq.GetErrorDetail() != nil && e.gen == 0,
		ledger: e.ledger})
}

// rescope moves every watch whose proxy's scope the current IR changed.
func (s *Server) rescope() {
	s.watchMu.Lock()
	entries := make([]*watchEntry, 0, len(s.watches))
	for e := range s.watches {
		entries = append(entries, e)
	}
	s.watchMu.Unlock()
	for _, e := range entries {
		s.move(e)
	}
	s.dropIdleScopes()
}

// move re-opens a watch on the cache of its proxy's current scope (the scope of its
// key now: rebaseScopes may have dropped the one it was on). The new cache has
// other versions, so it answers at once with the whole new config; the proxy may also
// get the old scope's answer first, and ends on the new one.
//
// No lock is held while the cache opens the watch: the stream's goroutine may itself
// be here. A later move supersedes an earlier one still opening (gen); the stream's
// cancel waits for moves in progress.
func (s *Server) move(e *watchEntry) {
	s.mu.Lock()
	key := s.keyFor(e.info)
	current := s.scopes[key]
	s.mu.Unlock()
	s.watchMu.Lock()
	if e.closed || (e.key == key && e.sc == current) {
		s.watchMu.Unlock()
		return
	}
	e.gen++
	gen, old := e.gen, e.inner
	e.key, e.inner = key, func() {}
	e.moves.Add(1) // before closed can be set: see watch's cancel
	defer e.moves.Done()
	s.watchMu.Unlock()
	old()
	sc, err := s.scopeFor(e.info)
	if err != nil {
		return
	}
	s.addServerListeners(sc, e)
	inner, err := open(sc, e)
	if err != nil {
		s.log.Error(err, "moving a watch to its new scope", "scope", sc.key.String())
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if e.closed || e.gen != gen {
		inner() // cancelled, or moved again meanwhile
		return
	}
	e.sc, e.inner = sc, inner
}

// dropIdleScopes forgets label-specific scopes no watch uses any more, so scopes do not
// pile up as selectors change. Namespace scopes stay: there are few, and proxies come
// back to them.
func (s *Server) dropIdleScopes() {
	s.watchMu.Lock()
	used := map[scopeKey]bool{}
	for e := range s.watches {
		used[e.key] = true
	}
	s.watchMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.scopes {
		if k.Signature != "" && !used[k] {
			delete(s.scopes, k)
		}
	}
}

// Fetch (REST xDS) is not served.
func (s *Server) Fetch(context.Context, *cachev3.Request) (cachev3.Response, error) {
	return nil, errors.New("fetch is not supported; use ADS")
}
