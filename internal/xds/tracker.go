package xds

import (
	"context"
	"hash/fnv"
	"maps"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
)

// Tracker follows connected proxies and what they ACKed or NACKed, per resource type.
type Tracker struct {
	// mu is taken before Server.mu (Progress reads both), never under it.
	mu      sync.Mutex
	streams map[int64]*ProxyState
	// changed is signalled (without blocking) whenever an ACK, NACK or disconnect
	// changes what proxies hold.
	changed chan struct{}
}

// ProxyState is one connected proxy.
type ProxyState struct {
	NodeID string
	// Acked and Nacked hold, per type URL, the last version the proxy accepted and the
	// last it rejected (with the proxy's message).
	Acked  map[string]string
	Nacked map[string]Nack
	// Subscribed lists the types the proxy asked for, in order of first request.
	Subscribed []string
	// Names are, per type, the resource names of the last state-of-the-world request
	// (none: wildcard).
	Names map[string][]string
	// NamesKey hashes each type's Names, so proxies subscribed alike are known to be
	// without comparing thousands of names each time.
	NamesKey map[string]uint64
	// Delta is set for incremental streams, whose ACKs carry a nonce: Acked holds the
	// version of the response that nonce named.
	Delta bool
	// sent maps an incremental stream's response nonces to their versions.
	sent map[string]string
	info nodeInfo
	node *corev3.Node
}

// Nack is a rejected version and why.
type Nack struct {
	Version, Message string
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{streams: map[int64]*ProxyState{}, changed: make(chan struct{}, 1)}
}

// Changed is signalled when what proxies acknowledged may have changed.
func (t *Tracker) Changed() <-chan struct{} { return t.changed }

func (t *Tracker) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Proxies returns a copy of the state of every connected proxy.
func (t *Tracker) Proxies() []ProxyState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProxyState, 0, len(t.streams))
	for _, p := range t.streams {
		c := ProxyState{NodeID: p.NodeID, Acked: map[string]string{}, Nacked: map[string]Nack{},
			Subscribed: append([]string(nil), p.Subscribed...), info: p.info, Delta: p.Delta,
			Names: maps.Clone(p.Names), NamesKey: maps.Clone(p.NamesKey)}
		for k, v := range p.Acked {
			c.Acked[k] = v
		}
		for k, v := range p.Nacked {
			c.Nacked[k] = v
		}
		out = append(out, c)
	}
	return out
}

// stream returns (creating) a stream's state. Callers hold t.mu.
func (t *Tracker) stream(id int64) *ProxyState {
	p := t.streams[id]
	if p == nil {
		p = &ProxyState{Acked: map[string]string{}, Nacked: map[string]Nack{}, Names: map[string][]string{}, NamesKey: map[string]uint64{}, sent: map[string]string{}}
		t.streams[id] = p
	}
	return p
}

// request records one request: names are a state-of-the-world request's resource names.
func (t *Tracker) request(id int64, node *corev3.Node, typeURL, version string, names []string, errDetail string, log logr.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.record(t.stream(id), node, typeURL, version, names, errDetail, log)
}

// record is request for the stream p. Callers hold t.mu.
func (t *Tracker) record(p *ProxyState, node *corev3.Node, typeURL, version string, names []string, errDetail string, log logr.Logger) {
	// Envoy repeats every name in every request; keep the first copy while they stay.
	if prev, ok := p.Names[typeURL]; (names != nil || !p.Delta) && (!ok || !slices.Equal(prev, names)) {
		p.Names[typeURL] = names
		h := fnv.New64a()
		for _, n := range names {
			h.Write([]byte(n))
			h.Write([]byte{0})
		}
		p.NamesKey[typeURL] = h.Sum64()
	}
	// Streams hand every request the node of their first (the same pointer): it is
	// read once, not per ACK.
	if node.GetId() != "" && node != p.node {
		p.node, p.NodeID = node, node.GetId()
		p.info = parseNode(node)
	}
	known := false
	for _, s := range p.Subscribed {
		known = known || s == typeURL
	}
	if !known {
		p.Subscribed = append(p.Subscribed, typeURL)
	}
	defer t.signal()
	switch {
	case errDetail != "":
		p.Nacked[typeURL] = Nack{Version: version, Message: errDetail}
		log.Info("proxy rejected config (NACK)", "node", p.NodeID, "type", typeURL, "version", version, "error", errDetail)
	case version != "":
		p.Acked[typeURL] = version
		delete(p.Nacked, typeURL)
	}
}

func (t *Tracker) closed(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.streams, id)
	t.signal()
}

// callbacks are the tracker's hooks on one port's streams; port sets the high bits of
// their ids, which each port's server numbers alike.
func (t *Tracker) callbacks(log logr.Logger, port int64) serverv3.CallbackFuncs {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error { return nil },
		StreamClosedFunc: func(id int64, _ *corev3.Node) {
			t.closed(port | id)
		},
		DeltaStreamOpenFunc: func(context.Context, int64, string) error { return nil },
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) {
			t.closed(port | id)
		},
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			t.request(port|id, req.GetNode(), req.GetTypeUrl(), req.GetVersionInfo(), req.GetResourceNames(), req.GetErrorDetail().GetMessage(), log)
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			t.mu.Lock()
			defer t.mu.Unlock()
			p := t.stream(port | id)
			p.Delta = true
			version := p.sent[req.GetResponseNonce()]
			delete(p.sent, req.GetResponseNonce())
			t.record(p, req.GetNode(), req.GetTypeUrl(), version, nil, req.GetErrorDetail().GetMessage(), log)
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.stream(port | id).sent[resp.GetNonce()] = resp.GetSystemVersionInfo()
		},
	}
}
