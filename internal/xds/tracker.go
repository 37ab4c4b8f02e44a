package xds

import (
	"context"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
)

// Tracker follows connected proxies and what they ACKed or NACKed, per resource type.
type Tracker struct {
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
	info       nodeInfo
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
			Subscribed: append([]string(nil), p.Subscribed...), info: p.info}
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

func (t *Tracker) request(id int64, node *corev3.Node, typeURL, version string, errDetail string, log logr.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.streams[id]
	if p == nil {
		p = &ProxyState{Acked: map[string]string{}, Nacked: map[string]Nack{}}
		t.streams[id] = p
	}
	if node.GetId() != "" {
		p.NodeID = node.GetId()
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

func (t *Tracker) callbacks(log logr.Logger) serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error { return nil },
		StreamClosedFunc: func(id int64, _ *corev3.Node) {
			t.closed(id)
		},
		DeltaStreamOpenFunc: func(context.Context, int64, string) error { return nil },
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) {
			t.closed(id)
		},
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			t.request(id, req.GetNode(), req.GetTypeUrl(), req.GetVersionInfo(), req.GetErrorDetail().GetMessage(), log)
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			version := ""
			if req.GetResponseNonce() != "" {
				version = req.GetResponseNonce()
			}
			t.request(id, req.GetNode(), req.GetTypeUrl(), version, req.GetErrorDetail().GetMessage(), log)
			return nil
		},
	}
}
