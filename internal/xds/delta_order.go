package xds

import (
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// streamOrder keeps one incremental stream make before break across passes.
//
// A regeneration updates a scope's caches in order (clusters, endpoints, listeners,
// routes, then removals), and a stream whose watches are all open sends in that
// order. But a watch waiting for the ACK of its last response takes the next change
// only when the ACK comes, and ACKs come back in the order responses went out: when
// passes follow each other faster than a round trip, the clusters' watch reopens first
// and would send a later pass's cluster removals before the routes that stopped naming
// them, or a route could go out naming a cluster whose watch has not reopened yet.
// Envoy answers such requests 503 (no cluster). So, per stream:
//   - cluster and endpoint removals are held while a listener or route response is
//     unacknowledged, held or queued (the rest of their response goes at once, or an
//     empty response, so the watch keeps turning);
//   - listener and route responses are held while the clusters' watch is waiting for
//     an ACK with changes behind it, and until the responses queued behind them are
//     sent (a watch reopened by a request answers behind what an update queued).
//
// All of it runs on the stream's goroutine.
type streamOrder struct {
	// unacked is, per type, the nonce of its last response while the stream has not
	// acknowledged it.
	unacked map[string]string
	// version is, per type, the version of its last response sent: a held removal
	// goes out under it, since the stream then holds what that response left it with
	// less the removed names, which is the cache's state of that version.
	version map[string]string
	// removals and routes are the held responses, each in the order they came.
	removals, routes []*deltaResponse
}

func newStreamOrder() *streamOrder {
	return &streamOrder{unacked: map[string]string{}, version: map[string]string{}}
}

// breaksRoutes: removing resources of the type can break routes that still name them.
func breaksRoutes(typ string) bool {
	return typ == resourcev3.ClusterType || typ == resourcev3.EndpointType
}

// namesClusters: resources of the type name clusters.
func namesClusters(typ string) bool {
	return typ == resourcev3.ListenerType || typ == resourcev3.RouteType
}

// requested records a request: an ACK or NACK of the type's last response clears it.
func (o *streamOrder) requested(typ, nonce string) {
	if o.unacked[typ] == nonce {
		delete(o.unacked, typ)
	}
}

// sent records a response of version sent with nonce.
func (o *streamOrder) sent(typ, nonce, version string) {
	o.unacked[typ] = nonce
	o.version[typ] = version
}

// deliver sends resp, or holds it (or its removals) as streamOrder says; queued says
// whether more responses wait in the stream's channel, clustersBehind whether the
// clusters' cache changed since the stream was last answered.
func (o *streamOrder) deliver(resp cachev3.DeltaResponse, queued bool, clustersBehind func() bool, send func(cachev3.DeltaResponse) error) error {
	r, ok := resp.(*deltaResponse)
	typ := resp.GetDeltaRequest().GetTypeUrl()
	switch {
	case !ok:
	case breaksRoutes(typ):
		// A resource sent again is no longer removed.
		for _, h := range o.removals {
			if h.req.GetTypeUrl() == typ {
				h.removed = without(h.removed, r.entries)
			}
		}
		if len(r.removed) > 0 && !o.routesSettled(queued) {
			o.removals = append(o.removals, &deltaResponse{req: r.req, version: r.version, removed: r.removed, returned: r.returned})
			r = &deltaResponse{req: r.req, version: r.version, entries: r.entries, returned: r.returned}
			resp = r
		}
	case namesClusters(typ) && (len(o.routes) > 0 || queued || o.clustersPending(clustersBehind)):
		// Queued responses may carry clusters: a clusters' watch reopened by a request
		// answers then, behind what an update queued meanwhile.
		o.routes = append(o.routes, r)
		return nil
	}
	return send(resp)
}

// clustersPending reports whether the clusters' watch awaits the ACK of its last
// response with changes behind it, which it will send only then.
func (o *streamOrder) clustersPending(clustersBehind func() bool) bool {
	return o.unacked[resourcev3.ClusterType] != "" && clustersBehind()
}

// routesSettled reports whether the stream holds the listeners and routes it was
// last answered with: none unacknowledged, held or queued.
func (o *streamOrder) routesSettled(queued bool) bool {
	return !queued && len(o.routes) == 0 && o.unacked[resourcev3.ListenerType] == "" && o.unacked[resourcev3.RouteType] == ""
}

// release sends the held responses whose turn has come.
func (o *streamOrder) release(queued bool, clustersBehind func() bool, send func(cachev3.DeltaResponse) error) error {
	// Queued responses go first: one may carry the clusters the held routes name.
	if queued {
		return nil
	}
	if len(o.routes) > 0 && !o.clustersPending(clustersBehind) {
		held := o.routes
		o.routes = nil
		for _, r := range held {
			if err := send(r); err != nil {
				return err
			}
		}
	}
	if len(o.removals) > 0 && o.routesSettled(queued) {
		held := o.removals
		o.removals = nil
		for _, r := range held {
			if len(r.removed) > 0 {
				// Labelled with its own, older version, its ACK would roll the
				// tracker back behind a later response of the type already acknowledged.
				r.version = o.version[r.req.GetTypeUrl()]
				if err := send(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// without is names less those of entries.
func without(names []string, entries []*cachedEntry) []string {
	if len(entries) == 0 {
		return names
	}
	sent := make(map[string]bool, len(entries))
	for _, e := range entries {
		sent[e.name] = true
	}
	out := names[:0:0]
	for _, n := range names {
		if !sent[n] {
			out = append(out, n)
		}
	}
	return out
}
