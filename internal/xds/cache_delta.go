package xds

import (
	"fmt"
	"slices"
)

// heldView is what an incremental stream holds, as one of its watches sees it.
//
// go-control-plane keeps, per stream and type, a map of every resource the stream was
// sent and its version, and hands it to each watch: for an Envoy sidecar a thousand
// clusters and a thousand endpoint names, 300 MB over 2,000 streams. meshd keeps that
// map short. Once a stream is known current on a cache at a generation (its ledger),
// it holds what the cache held then, and the map lists only exceptions: names the
// protocol marks for resending (a wildcard stream unsubscribing a name by hand). What
// it holds of a name then follows from whether an update since touched it.
type heldView struct {
	c *resourceCache
	// versions is the stream's map: in full, or only the exceptions (overlay).
	versions map[string]string
	overlay  bool
	// changed are names updates touched since the stream was current (it holds an
	// older version, or none); fresh are names it just subscribed to (it holds none).
	changed map[string]bool
	fresh   map[string]bool
	// unknown: nothing is known of what it holds of any name (every one is answered).
	unknown bool
	// check is every name whose answer may differ from what the stream holds, unless
	// all: every name it subscribes to or holds is compared.
	check []string
	all   bool
}

// version is what the stream holds of name n, and whether it holds it at all; wanted
// says whether it subscribes to n (a stream drops what it unsubscribes from).
func (h heldView) version(n string, wanted bool) (string, bool) {
	if v, ok := h.versions[n]; ok {
		return v, true
	}
	switch {
	case !h.overlay, h.fresh[n]:
		return "", false
	case h.unknown, h.changed[n]:
		return "", wanted // something older, or nothing: answered either way
	}
	if e := h.c.resources[n]; e != nil {
		return e.version, true
	}
	return "", false
}

// heldView reads what w's stream holds for a new watch: in overlay when its ledger
// says it was current on c, else from its map in full. A stream that was current so
// long ago that the change log no longer reaches back is told to reconnect: it then
// says what it holds (initial_resource_versions). Callers hold c.mu.
func (c *resourceCache) heldView(w *cacheWatch, held map[string]string, subscribed []string) (heldView, error) {
	if w.ledger.isLost() {
		return heldView{}, fmt.Errorf("what the stream holds of %s is no longer known; reconnect", c.typeURL)
	}
	gen, ok := w.ledger.at(c)
	if !ok {
		return heldView{c: c, versions: held, all: true}, nil
	}
	changed, ok := c.changedSince(gen)
	if !ok {
		return heldView{}, fmt.Errorf("the stream fell %d updates behind its %s; reconnect", c.gen-gen, c.typeURL)
	}
	if slices.Contains(subscribed, "*") {
		// Turning wildcard: every resource is compared, none assumed held.
		return heldView{c: c, versions: held, overlay: true, unknown: true, all: true}, nil
	}
	v := heldView{c: c, versions: held, overlay: true, changed: setOf(changed), fresh: setOf(subscribed)}
	v.check = slices.Concat(changed, subscribed)
	for n := range held {
		v.check = append(v.check, n)
	}
	return v, nil
}

// updatedView is what a tracked watch's stream holds when an update touched names
// (changed is their set, shared by every watch the update answers): current until
// then, but for those names (and, for a watch answering a NACK, what it held back
// since its ledger). Callers hold c.mu.
func (c *resourceCache) updatedView(w *cacheWatch, names []string, changed map[string]bool) heldView {
	if w.ledger.isLost() {
		return heldView{c: c, overlay: true} // nothing: its next request reconnects it
	}
	held := w.sub.ReturnedResources()
	gen, known := w.ledger.at(c)
	if !known {
		// Its map is all there is to go by: every name is compared with it.
		return heldView{c: c, versions: held, all: true}
	}
	if w.nacked {
		since, ok := c.changedSince(gen)
		if !ok {
			// What it held back is out of the log: everything is sent again, and its
			// next request reconnects it (removals it may have missed).
			w.ledger.lose()
			return heldView{c: c, versions: held, overlay: true, unknown: true, all: true}
		}
		names, changed = since, setOf(since)
	}
	check := names
	if len(held) > 0 {
		check = slices.Clone(names)
		for n := range held {
			check = append(check, n)
		}
	}
	return heldView{c: c, versions: held, overlay: true, changed: changed, check: check}
}

// spellOut writes out in full what w's stream holds of this cache's resources, given
// that it was current here at generation gen with the exceptions in overlay: for a
// stream that moved to another cache. Names changed since (or everything, if the
// change log no longer reaches back, which it reports) are held at no known version,
// so the other cache sends its own.
func (c *resourceCache) spellOut(w *cacheWatch, gen uint64, overlay map[string]string) (map[string]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed, reaches := c.changedSince(gen)
	unknown := setOf(changed)
	held := map[string]string{}
	add := func(n string) {
		if v, ok := overlay[n]; ok {
			held[n] = v
		} else if e := c.resources[n]; !reaches || unknown[n] {
			held[n] = ""
		} else if e != nil {
			held[n] = e.version
		}
	}
	if w.sub.IsWildcard() {
		for n := range c.resources {
			add(n)
		}
		for n := range unknown {
			add(n)
		}
	} else {
		for n := range w.sub.SubscribedResources() {
			add(n)
		}
	}
	for n := range overlay {
		add(n)
	}
	return held, reaches
}

func setOf(names []string) map[string]bool {
	if len(names) == 0 {
		return nil // most ACKs: nothing changed since the stream's last answer
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// respondDelta answers an incremental watch with the changed and removed resources of
// the names in view.check (or of every name) and reports whether it did.
func (c *resourceCache) respondDelta(w *cacheWatch, view heldView, initial bool) bool {
	wanted := func(n string) bool {
		if w.sub.IsWildcard() {
			return true
		}
		_, ok := w.sub.SubscribedResources()[n]
		return ok
	}
	var send []*cachedEntry
	var removed []string
	check := func(n string) {
		e := c.resources[n]
		want := wanted(n)
		v, has := view.version(n, want)
		switch {
		case e != nil && want && (!has || v != e.version):
			send = append(send, e)
		case has && (e == nil || !want):
			removed = append(removed, n)
		}
	}
	if view.all {
		if w.sub.IsWildcard() {
			for n := range c.resources {
				check(n)
			}
		} else {
			for n := range w.sub.SubscribedResources() {
				check(n)
			}
		}
		for n := range view.versions {
			if c.resources[n] == nil || !wanted(n) {
				check(n)
			}
		}
	} else {
		for _, n := range view.check {
			check(n)
		}
	}
	send = slices.CompactFunc(sortedEntries(send), func(a, b *cachedEntry) bool { return a.name == b.name })
	slices.Sort(removed)
	removed = slices.Compact(removed)
	firstWildcard := initial && w.sub.IsWildcard() && w.dreq.GetResponseNonce() == ""
	if len(send) == 0 && len(removed) == 0 && !firstWildcard {
		return false
	}
	if initial && w.nacked && !firstWildcard {
		// A NACK holds back what changed (the proxy keeps its last good config), but
		// not names it subscribes to in the same request.
		send = slices.DeleteFunc(send, func(e *cachedEntry) bool { return !view.fresh[e.name] })
		if removed = nil; len(send) == 0 {
			return false
		}
	}
	// Never blocks: callers hold the cache's lock, which the stream's goroutine (the
	// only one that drains the channel) may be waiting for. go-control-plane's channel
	// holds two responses per type, so it is full only if the stream stopped reading:
	// what it holds is then unknown, and its next request reconnects it.
	select {
	case w.dch <- &deltaResponse{req: w.dreq, version: versionString(c.sum), entries: send, removed: removed, returned: returnedMap(w, view, send, removed)}:
		return true
	default:
		w.ledger.lose()
		return false
	}
}

// returnedMap is the map go-control-plane keeps for the stream once the response is
// sent. With a ledger, the stream then holds what the cache holds now, which the ledger
// records: the map starts empty again. Without one (a stream meshd's callbacks did not
// see), it is the stream's map brought up to date, in place: go-control-plane sends
// every response before it reads the stream's next request, and changes the map only
// after cancelling the watch, so no one reads it meanwhile.
func returnedMap(w *cacheWatch, view heldView, send []*cachedEntry, removed []string) map[string]string {
	if w.ledger != nil {
		return map[string]string{}
	}
	returned := view.versions
	if returned == nil {
		returned = make(map[string]string, len(send))
	}
	for _, e := range send {
		returned[e.name] = e.version
	}
	for _, n := range removed {
		delete(returned, n)
	}
	return returned
}
