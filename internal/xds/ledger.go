package xds

import "sync"

// deltaLedger is what the caches know of one incremental stream's resource type from
// one watch to the next; deltaADS keeps one per stream and type. A new watch is opened
// for every request, ACKs included, and would otherwise compare every name the stream
// subscribes to (an Envoy sidecar names every cluster of the mesh for endpoints) with
// what it holds: a thousand lookups per ACK, per stream, per push. With the ledger, an ACK
// costs what changed since the stream's last answer.
type deltaLedger struct {
	mu sync.Mutex
	// cache answered or watched the stream last, and at its generation gen the stream
	// held, or had been sent, everything it subscribes to. nil: not known.
	cache *resourceCache
	gen   uint64
	// lost: what the stream holds is no longer known (see lose).
	lost bool
}

// lose records that what the stream holds can no longer be worked out; its next
// request is refused, and it reconnects saying what it holds.
func (l *deltaLedger) lose() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = true
}

// isLost reports whether the stream must reconnect.
func (l *deltaLedger) isLost() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// at reports the generation at which the stream was known current on c.
func (l *deltaLedger) at(c *resourceCache) (uint64, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen, l.cache == c && !l.lost
}

// elsewhere reports the other cache, and its generation, at which the stream was
// known current, when that is not c.
func (l *deltaLedger) elsewhere(c *resourceCache) (*resourceCache, uint64, bool) {
	if l == nil {
		return nil, 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cache, l.gen, l.cache != nil && l.cache != c
}

// set records that the stream is current on c at generation gen (c == nil: unknown).
func (l *deltaLedger) set(c *resourceCache, gen uint64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cache, l.gen = c, gen
}

// behind reports whether the cache the stream was last known current on has changed
// since (false when not known).
func (l *deltaLedger) behind() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	c, gen := l.cache, l.gen
	l.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen > gen
}
