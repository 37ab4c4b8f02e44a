package xds

import (
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// deltaLedger is what the caches know of one incremental stream's resource type from
// one watch to the next. go-control-plane opens a new watch for every request, ACKs
// included, and a new watch would otherwise compare every name the stream subscribes
// to (an Envoy sidecar names every cluster of the mesh for endpoints) with what it
// holds: a thousand lookups per ACK, per stream, per push. With the ledger, an ACK
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

// ledgers hands each incremental stream's watches their ledger. go-control-plane tells
// a watch its request, not its stream: the request callback, which runs on the stream's
// goroutine just before the watch is created, leaves the stream's ledger for it.
type ledgers struct {
	mu       sync.Mutex
	byStream map[int64]map[string]*deltaLedger
	pending  map[*discoveryv3.DeltaDiscoveryRequest]pendingLedger
}

type pendingLedger struct {
	stream int64
	ledger *deltaLedger
}

func newLedgers() *ledgers {
	return &ledgers{byStream: map[int64]map[string]*deltaLedger{}, pending: map[*discoveryv3.DeltaDiscoveryRequest]pendingLedger{}}
}

// request leaves the ledger of req's stream and type for the watch req opens.
func (l *ledgers) request(stream int64, req *discoveryv3.DeltaDiscoveryRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	types := l.byStream[stream]
	if types == nil {
		types = map[string]*deltaLedger{}
		l.byStream[stream] = types
	}
	led := types[req.GetTypeUrl()]
	if led == nil {
		led = &deltaLedger{}
		types[req.GetTypeUrl()] = led
	}
	l.pending[req] = pendingLedger{stream, led}
}

// take returns the ledger left for req (nil if none).
func (l *ledgers) take(req *discoveryv3.DeltaDiscoveryRequest) *deltaLedger {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pending[req]
	delete(l.pending, req)
	if !ok {
		return nil
	}
	return p.ledger
}

// closed forgets a stream, and any ledger left for a watch it never opened.
func (l *ledgers) closed(stream int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byStream, stream)
	for req, p := range l.pending {
		if p.stream == stream {
			delete(l.pending, req)
		}
	}
}
