package xds

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/types/known/anypb"
)

// resourceCache holds one resource type of one scope. Every resource is marshalled once
// into an Any that every response shares, and is versioned by the hash of its bytes, so
// the same config gives the same versions on every replica and after a restart: a proxy
// that reconnects to another meshd holding the same config is sent nothing.
//
// Watches are indexed by the names they subscribe to, so a change wakes only the
// streams that asked for what changed, and costs what changed, not the size of the
// fleet's subscriptions (go-control-plane's LinearCache re-reads every subscription of
// every stream a change touches).
type resourceCache struct {
	typeURL string
	// fullState types (LDS, CDS) carry every resource in every state-of-the-world
	// response; the others carry only what changed.
	fullState bool

	mu        sync.Mutex
	resources map[string]*cachedEntry
	// sum mixes every resource's (name, version): the version of a wildcard response.
	sum      uint64
	named    map[string]map[*cacheWatch]struct{}
	wildcard map[*cacheWatch]struct{}
	// broad are watches on many names (Envoy's endpoint subscriptions name every
	// cluster): indexing each under every name would cost more per ACK than checking
	// their subscriptions against the few names a change touches.
	broad map[*cacheWatch]struct{}
	// everything is the answer to a wildcard watch, built once per change and shared by
	// every stream (nil until needed).
	everything *sotwResponse
	// gen counts updates; changes holds the names each of the last ones touched, so an
	// incremental stream coming back with an ACK is checked for what changed since its
	// ledger's generation only.
	gen     uint64
	changes [changeLog][]string
}

// changeLog is how many updates a cache remembers the names of. An incremental stream
// that comes back later than that many updates is told to reconnect (see heldView).
const changeLog = 1024

// cachedEntry is one marshalled resource.
type cachedEntry struct {
	name string
	any  *anypb.Any
	// version is the hex of the 64-bit xxHash of the resource's bytes: content
	// addressed, so replicas and restarts agree, and fast enough for the 300 kB route
	// configurations of large meshes.
	version string
	// mix is the entry's share of a response version: a hash of name and version, so
	// the XOR over a set of entries names that set's content whatever the order.
	mix uint64
	// resource is the entry as an incremental response lists it, shared by every
	// response (read only: a thousand of them per stream at a sidecar's sync).
	resource *discoveryv3.Resource
	// wires are its encodings as a response's resource field (see wire).
	wires [2]atomic.Pointer[mem.BufferSlice]
}

// newCachedEntry wraps marshalled bytes of a resource of type typeURL.
func newCachedEntry(typeURL, name string, b []byte) *cachedEntry {
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], xxhash.Sum64(b))
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write(sum[:])
	e := &cachedEntry{name: name, any: &anypb.Any{TypeUrl: typeURL, Value: b}, version: hex.EncodeToString(sum[:]), mix: h.Sum64()}
	e.resource = &discoveryv3.Resource{Name: e.name, Version: e.version, Resource: e.any}
	return e
}

// cacheWatch is one open watch: a state-of-the-world or an incremental one.
type cacheWatch struct {
	req  *cachev3.Request
	ch   chan cachev3.Response
	dreq *cachev3.DeltaRequest
	dch  chan cachev3.DeltaResponse
	sub  cachev3.Subscription
	// nacked: the request rejected the last response; answer only a new change, not
	// the same config again (the proxy keeps its last good one meanwhile).
	nacked bool
	// mix is, for a partial (RDS, EDS) watch, the version mix of its subscribed
	// resources, kept up to date by updates so none has to re-read the subscription.
	mix uint64
	// ledger is an incremental watch's record of its stream (nil: none).
	ledger  *deltaLedger
	tracked bool
	// done is closed when the watch is cancelled: a response waiting for room in the
	// stream's channel is then dropped (see deliver).
	done     chan struct{}
	doneOnce sync.Once
}

// cancel ends the watch's wait for room in its stream's channel.
func (w *cacheWatch) cancel() { w.doneOnce.Do(func() { close(w.done) }) }

// deliver hands a state-of-the-world response to the stream without ever blocking:
// callers hold the cache's lock, and the stream's goroutine, the only one that drains
// the channel, may be waiting for that lock (cancelling a watch, or opening one) or
// for the server's. When the channel is full (a storm of scope moves), a goroutine
// waits for room, or for the watch's cancellation, which go-control-plane's server
// would drop the response on anyway.
func (w *cacheWatch) deliver(r cachev3.Response) {
	select {
	case w.ch <- r:
	default:
		go func() {
			select {
			case w.ch <- r:
			case <-w.done:
			}
		}()
	}
}

func newResourceCache(typeURL string) *resourceCache {
	return &resourceCache{typeURL: typeURL, fullState: cachev3.ResourceRequiresFullStateInSotw(typeURL),
		resources: map[string]*cachedEntry{}, named: map[string]map[*cacheWatch]struct{}{},
		wildcard: map[*cacheWatch]struct{}{}, broad: map[*cacheWatch]struct{}{}}
}

// versionString renders a mix of entries as a response version.
func versionString(mix uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], mix)
	return hex.EncodeToString(b[:])
}

// get returns a resource's entry, or nil.
func (c *resourceCache) get(name string) *cachedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resources[name]
}

// len is how many resources the cache holds.
func (c *resourceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.resources)
}

// names lists the cache's resource names.
func (c *resourceCache) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Keys(c.resources))
}

// version is the version a state-of-the-world proxy subscribed to names (all of them
// when wildcard) holds once it is up to date.
func (c *resourceCache) version(names []string, wildcard bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wildcard {
		return versionString(c.sum)
	}
	var mix uint64
	for _, n := range names {
		if e := c.resources[n]; e != nil {
			mix ^= e.mix
		}
	}
	return versionString(mix)
}

// update replaces changed entries and removes deleted names, then answers the watches
// that subscribe to any of them.
func (c *resourceCache) update(changed []*cachedEntry, deleted []string) {
	if len(changed) == 0 && len(deleted) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.everything = nil
	c.gen++
	names := make([]string, 0, len(changed)+len(deleted))
	// delta is, per name, how its change moves the mix of a set that holds it.
	delta := make(map[string]uint64, len(changed)+len(deleted))
	for _, e := range changed {
		d := e.mix
		if old := c.resources[e.name]; old != nil {
			d ^= old.mix
		}
		c.resources[e.name] = e
		c.sum ^= d
		delta[e.name] = d
		names = append(names, e.name)
	}
	for _, n := range deleted {
		if old := c.resources[n]; old != nil {
			c.sum ^= old.mix
			delete(c.resources, n)
			delta[n] = old.mix
			names = append(names, n)
		}
	}
	c.changes[c.gen%changeLog] = names
	changedSet := setOf(names) // shared by every incremental watch the update answers
	touched := map[*cacheWatch]struct{}{}
	for _, n := range names {
		for w := range c.named[n] {
			touched[w] = struct{}{}
		}
	}
	for w := range c.wildcard {
		touched[w] = struct{}{}
	}
	for w := range c.broad {
		for _, n := range names {
			if _, ok := w.sub.SubscribedResources()[n]; ok {
				touched[w] = struct{}{}
				break
			}
		}
	}
	for w := range touched {
		if !w.sub.IsWildcard() {
			for _, n := range names {
				if _, ok := w.sub.SubscribedResources()[n]; ok {
					w.mix ^= delta[n]
				}
			}
		}
		var responded bool
		if w.dreq != nil {
			responded = c.respondDelta(w, c.updatedView(w, names, changedSet), false)
		} else {
			responded = c.respond(w, names)
		}
		if responded {
			c.untrack(w)
			w.ledger.set(c, c.gen)
		}
	}
}

// changedSince lists the names updates after generation gen touched (repeats
// included), or reports that the log no longer reaches back that far.
func (c *resourceCache) changedSince(gen uint64) ([]string, bool) {
	if gen > c.gen || c.gen-gen >= changeLog {
		return nil, false
	}
	names := []string{}
	for g := gen + 1; g <= c.gen; g++ {
		names = append(names, c.changes[g%changeLog]...)
	}
	return names, true
}

// open answers w at once when its stream lacks something, and otherwise keeps it until
// a change it subscribes to. The returned func cancels it.
func (c *resourceCache) open(w *cacheWatch) (func(), error) {
	w.done = make(chan struct{})
	var held map[string]string
	lost := false
	if w.dreq != nil {
		held = w.sub.ReturnedResources()
		// Served by another cache before (its scope moved): what it holds is spelled out
		// from that cache first, with no two caches locked at once.
		if other, gen, ok := w.ledger.elsewhere(c); ok {
			var reaches bool
			held, reaches = other.spellOut(w, gen, held)
			w.ledger.set(nil, 0)
			// Out of the log's reach, it is sent everything now, and what it may still
			// hold that no cache has is settled when it reconnects at its next request.
			lost = !reaches
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var responded bool
	if w.dreq != nil {
		view, err := c.heldView(w, held, w.dreq.GetResourceNamesSubscribe())
		if err != nil {
			return nil, err
		}
		responded = c.respondDelta(w, view, true)
		if lost {
			w.ledger.lose()
		}
	} else {
		responded = c.respond(w, nil)
	}
	// A watch answering a NACK holds back what changed before it (the proxy keeps its
	// last good config): the ledger stays where it was, so the stream gets it later.
	if !w.nacked {
		w.ledger.set(c, c.gen)
	}
	if responded {
		return w.cancel, nil
	}
	c.track(w)
	return func() {
		w.cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		if w.tracked {
			// Every update since it opened was checked against it.
			c.untrack(w)
			if !w.nacked {
				w.ledger.set(c, c.gen)
			}
		}
	}, nil
}

// broadWatch is the number of names from which a watch is not indexed by name.
const broadWatch = 16

func (c *resourceCache) track(w *cacheWatch) {
	w.tracked = true
	if w.sub.IsWildcard() {
		c.wildcard[w] = struct{}{}
	}
	if len(w.sub.SubscribedResources()) >= broadWatch {
		c.broad[w] = struct{}{}
		return
	}
	for n := range w.sub.SubscribedResources() {
		if c.named[n] == nil {
			c.named[n] = map[*cacheWatch]struct{}{}
		}
		c.named[n][w] = struct{}{}
	}
}

func (c *resourceCache) untrack(w *cacheWatch) {
	w.tracked = false
	delete(c.wildcard, w)
	if _, ok := c.broad[w]; ok {
		delete(c.broad, w)
		return
	}
	for n := range w.sub.SubscribedResources() {
		if ws := c.named[n]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(c.named, n)
			}
		}
	}
}

// respond sends a state-of-the-world w what it lacks and reports whether it did. With names nil (a new
// watch) every subscribed resource is compared with what the stream was sent; after an
// update only the names that changed are. Callers hold c.mu.
func (c *resourceCache) respond(w *cacheWatch, names []string) bool {
	initial := names == nil
	if c.fullState {
		return c.respondFullState(w, initial)
	}
	return c.respondPartial(w, names, initial)
}

// fullSet is the full-state answer to w: every resource it subscribes to. Wildcard
// watches share one answer per change.
func (c *resourceCache) fullSet(w *cacheWatch) *sotwResponse {
	if w.sub.IsWildcard() && c.everything != nil {
		return c.everything
	}
	var entries []*cachedEntry
	if w.sub.IsWildcard() {
		entries = make([]*cachedEntry, 0, len(c.resources))
		for _, e := range c.resources {
			entries = append(entries, e)
		}
	} else {
		for n := range w.sub.SubscribedResources() {
			if e := c.resources[n]; e != nil {
				entries = append(entries, e)
			}
		}
	}
	r := &sotwResponse{entries: sortedEntries(entries), returned: make(map[string]string, len(entries))}
	var mix uint64
	for _, e := range entries {
		mix ^= e.mix
		r.returned[e.name] = e.version
	}
	r.version = versionString(mix)
	if w.sub.IsWildcard() {
		c.everything = r
	}
	return r
}

// respondFullState answers LDS and CDS: the whole set, whenever its version is not the
// one the proxy holds.
func (c *resourceCache) respondFullState(w *cacheWatch, initial bool) bool {
	set := c.fullSet(w)
	if set.version == w.req.GetVersionInfo() || (initial && w.nacked) {
		return false
	}
	w.deliver(&sotwResponse{req: w.req, version: set.version, entries: set.entries, returned: set.returned})
	return true
}

// respondPartial answers RDS and EDS with only the resources the stream lacks. Its
// version mixes every subscribed resource, so it is the same wherever the same config
// is served.
func (c *resourceCache) respondPartial(w *cacheWatch, names []string, initial bool) bool {
	known := w.sub.ReturnedResources()
	subscribed := w.sub.SubscribedResources()
	var send []*cachedEntry
	switch {
	case initial:
		w.mix = 0
		for n := range subscribed {
			if e := c.resources[n]; e != nil {
				w.mix ^= e.mix
				if known[n] != e.version {
					send = append(send, e)
				}
			}
		}
	default:
		for _, n := range names {
			if _, ok := subscribed[n]; !ok {
				continue
			}
			if e := c.resources[n]; e != nil && known[n] != e.version {
				send = append(send, e)
			}
		}
	}
	version := versionString(w.mix)
	switch {
	case initial && version == w.req.GetVersionInfo() && len(known) == 0 && w.req.GetResponseNonce() == "":
		// A proxy back from another meshd (or this one before a restart) that holds
		// exactly this config: nothing to send. Later changes are sent to it as to
		// any other stream, so record that it holds everything. Only a stream's first
		// request of the type (no nonce yet) is such a proxy: on an open stream, the
		// same version after an empty subscription is a proxy subscribing again to
		// what it dropped when it unsubscribed (a listener gone and back), and it
		// holds none of it.
		returned := map[string]string{}
		for n := range subscribed {
			if e := c.resources[n]; e != nil {
				returned[n] = e.version
			}
		}
		if len(returned) > 0 {
			// Nothing is sent, but the server must learn what the stream holds; an empty
			// response with the same version is a no-op for the proxy.
			w.deliver(&sotwResponse{req: w.req, version: version, returned: returned})
			return true
		}
		return false
	case initial && w.nacked:
		return false
	case len(send) == 0 && !(initial && w.req.GetVersionInfo() == "" && w.req.GetResponseNonce() == ""):
		return false
	}
	// The stream's map is copied, never changed: the server drops a response still
	// queued when a newer request of its type arrives, and the stream must then be
	// known to hold what it held before.
	returned := make(map[string]string, len(subscribed))
	for n, v := range known {
		if _, ok := subscribed[n]; ok && c.resources[n] != nil {
			returned[n] = v
		}
	}
	for _, e := range send {
		returned[e.name] = e.version
	}
	w.deliver(&sotwResponse{req: w.req, version: version, entries: sortedEntries(send), returned: returned})
	return true
}

func sortedEntries(es []*cachedEntry) []*cachedEntry {
	slices.SortFunc(es, func(a, b *cachedEntry) int { return strings.Compare(a.name, b.name) })
	return es
}

// sotwResponse is a state-of-the-world response built from shared, marshalled entries.
type sotwResponse struct {
	req      *cachev3.Request
	version  string
	entries  []*cachedEntry
	returned map[string]string
}

func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	out := &discoveryv3.DiscoveryResponse{VersionInfo: r.version, TypeUrl: r.req.GetTypeUrl(),
		Resources: make([]*anypb.Any, len(r.entries))}
	for i, e := range r.entries {
		out.Resources[i] = e.any
	}
	builtSotw.store(out, r.entries)
	return out, nil
}
func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)               { return r.version, nil }
func (r *sotwResponse) GetResponseVersion() string                { return r.version }
func (r *sotwResponse) GetReturnedResources() map[string]string   { return r.returned }
func (r *sotwResponse) GetContext() context.Context               { return context.Background() }

// deltaResponse is an incremental response built from shared, marshalled entries.
type deltaResponse struct {
	req      *cachev3.DeltaRequest
	version  string
	entries  []*cachedEntry
	removed  []string
	returned map[string]string
}

// GetDeltaDiscoveryResponse is the whole response as a message, for callers other than
// meshd's incremental streams, which send its envelope and entries (deltaWire).
func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	out := r.envelope()
	out.Resources = make([]*discoveryv3.Resource, len(r.entries))
	for i, e := range r.entries {
		out.Resources[i] = e.resource
	}
	return out, nil
}

// envelope is the response without its resources.
func (r *deltaResponse) envelope() *discoveryv3.DeltaDiscoveryResponse {
	return &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: r.version, TypeUrl: r.req.GetTypeUrl(), RemovedResources: r.removed}
}
func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                   { return r.version, nil }
func (r *deltaResponse) GetResponseVersion() string                          { return r.version }
func (r *deltaResponse) GetNextVersionMap() map[string]string                { return r.returned }
func (r *deltaResponse) GetReturnedResources() map[string]string             { return r.returned }
func (r *deltaResponse) GetContext() context.Context                         { return context.Background() }
