package xds

import (
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"weak"
)

// nameSet is a set of resource names some incremental streams subscribe to. It is
// never changed once made: streams subscribed alike share one (every sidecar of a scope
// names the same thousand clusters for endpoints), and a stream that subscribes or
// unsubscribes moves to another set. go-control-plane kept a map per stream and type:
// 105 MB for 2,000 sidecars of a 1,000-service mesh.
type nameSet struct {
	names map[string]struct{}
	// sum is the sum of the names' hashes: a set's sum follows from another's and the
	// names added and removed, so an equal set is found before a new one is built.
	sum uint64
}

// nameSets finds the shared set equal to a wanted one. Sets no stream holds are
// collected; the registry forgets them.
type nameSets struct {
	seed  maphash.Seed
	mu    sync.Mutex
	bySum map[uint64][]weak.Pointer[nameSet]
	empty *nameSet
}

func newNameSets() *nameSets {
	return &nameSets{seed: maphash.MakeSeed(), bySum: map[uint64][]weak.Pointer[nameSet]{}, empty: &nameSet{names: map[string]struct{}{}}}
}

// change returns the set from, plus add, less remove: from itself if that changes
// nothing, else the registry's equal set, else a new one. A sidecar's first request
// names a thousand clusters, 2,000 sidecars at once when meshd starts: what it adds
// is sorted, not mapped, and an equal set found costs no allocation past that.
func (r *nameSets) change(from *nameSet, add, remove []string) *nameSet {
	added := sortedNew(from, add)
	removed := remove[:0:0]
	for _, n := range remove {
		if _, in := from.names[n]; in {
			removed = append(removed, n)
		}
	}
	slices.Sort(removed)
	removed = slices.Compact(removed)
	// Subscribed and unsubscribed in one request: the unsubscription wins, as
	// go-control-plane and Envoy's own servers apply them in that order.
	if len(remove) > 0 && len(added) > 0 {
		unsubscribed := slices.Sorted(slices.Values(remove))
		added = slices.DeleteFunc(added, func(n string) bool { _, in := slices.BinarySearch(unsubscribed, n); return in })
	}
	if len(added) == 0 && len(removed) == 0 {
		return from
	}
	sum, size := from.sum, len(from.names)+len(added)-len(removed)
	for _, n := range added {
		sum += maphash.String(r.seed, n)
	}
	for _, n := range removed {
		sum -= maphash.String(r.seed, n)
	}
	isRemoved := func(n string) bool { _, in := slices.BinarySearch(removed, n); return in }
	equal := func(s *nameSet) bool {
		if len(s.names) != size {
			return false
		}
		for _, n := range added {
			if _, in := s.names[n]; !in {
				return false
			}
		}
		for n := range from.names {
			if _, in := s.names[n]; !in && !isRemoved(n) {
				return false
			}
		}
		return true // same size, and holds every name wanted
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.bySum[sum] {
		if s := p.Value(); s != nil && equal(s) {
			return s
		}
	}
	if size == 0 {
		return r.empty
	}
	s := &nameSet{names: make(map[string]struct{}, size), sum: sum}
	for n := range from.names {
		if !isRemoved(n) {
			s.names[n] = struct{}{}
		}
	}
	for _, n := range added {
		s.names[n] = struct{}{}
	}
	r.bySum[sum] = append(r.bySum[sum], weak.Make(s))
	runtime.AddCleanup(s, r.forget, sum)
	return s
}

// sortedNew are the names of add that from does not hold, sorted, each once.
func sortedNew(from *nameSet, add []string) []string {
	out := make([]string, 0, len(add))
	for _, n := range add {
		if _, in := from.names[n]; !in {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// forget drops the collected sets of one sum.
func (r *nameSets) forget(sum uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := r.bySum[sum][:0]
	for _, p := range r.bySum[sum] {
		if p.Value() != nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		delete(r.bySum, sum)
	} else {
		r.bySum[sum] = live
	}
}

// size is the number of sets the registry holds, collected or not.
func (r *nameSets) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ps := range r.bySum {
		n += len(ps)
	}
	return n
}

// deltaSubscription is what one incremental stream subscribes to of one type, as the
// caches read it (go-control-plane's cache.Subscription). It follows the protocol's
// rules (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol, "How the
// client specifies what resources to return") as go-control-plane's stream state does:
// a stream whose first request names nothing is a wildcard one until it names
// something; "*" subscribes to and unsubscribes from everything by name.
type deltaSubscription struct {
	names *nameSet
	// wildcard: the stream subscribes to every resource; legacy: it has named
	// nothing yet, and an empty request keeps it wildcard.
	wildcard, legacy bool
	// returned is what the stream was sent and holds, by name, as the caches left it
	// (with a ledger, only the protocol's exceptions).
	returned map[string]string
}

func (s deltaSubscription) SubscribedResources() map[string]struct{} { return s.names.names }
func (s deltaSubscription) IsWildcard() bool                         { return s.wildcard }
func (s deltaSubscription) ReturnedResources() map[string]string     { return s.returned }

// newDeltaSubscription is a stream's subscription from its first request of a type,
// which may say what the stream holds from before a reconnect.
func newDeltaSubscription(sets *nameSets, subscribe, unsubscribe []string, held map[string]string) deltaSubscription {
	s := deltaSubscription{names: sets.empty, wildcard: len(subscribe) == 0, legacy: true, returned: held}
	if s.returned == nil {
		s.returned = map[string]string{}
	}
	s.update(sets, subscribe, unsubscribe)
	return s
}

// update applies one request's subscriptions and unsubscriptions.
func (s *deltaSubscription) update(sets *nameSets, subscribe, unsubscribe []string) {
	if s.legacy {
		if len(subscribe) == 0 {
			return // still wildcard by the legacy rule
		}
		s.legacy = false
	}
	add := subscribe
	if slices.Contains(subscribe, "*") {
		s.wildcard = true
		add = slices.DeleteFunc(slices.Clone(subscribe), func(n string) bool { return n == "*" })
	}
	var remove []string
	for _, n := range unsubscribe {
		if n == "*" {
			s.wildcard = false
			continue
		}
		remove = append(remove, n)
		if _, in := s.names.names[n]; in && s.wildcard {
			// Still subscribed through the wildcard: the protocol wants the resource
			// sent again (or its removal), as if the stream held no version of it.
			s.returned[n] = ""
		} else {
			delete(s.returned, n)
		}
	}
	s.names = sets.change(s.names, add, remove)
}
