package xds

import (
	"context"
	"strconv"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// deltaStreamIDs sets a bit in the ids of incremental streams: go-control-plane numbers
// its state-of-the-world streams from 1, and the tracker keys streams of both kinds by
// id.
const deltaStreamIDs = 1 << 39

// deltaADS serves incremental ADS streams on meshd's caches in place of
// go-control-plane's delta server, which it follows request for request (the same
// callbacks, in the same order, and the same watches), with one difference: what a
// stream subscribes to is a shared, unchanging set of names (nameSet), not a map of
// its own. An Envoy sidecar subscribes to endpoints by the name of every cluster it
// knows, and 2,000 sidecars of one mesh name the same clusters. Each watch also gets
// its stream's ledger of the type, so an ACK costs what changed since.
type deltaADS struct {
	ctx       context.Context
	server    *Server
	callbacks serverv3.Callbacks
	sets      *nameSets
	streams   atomic.Int64
}

// deltaWatch is a stream's state for one type: its open watch, and what it subscribes
// to. (Like go-control-plane, meshd does not hold ACKs to the latest nonce: an ACK of an
// older response is still an ACK of what that response carried.)
type deltaWatch struct {
	cancel func()
	sub    deltaSubscription
	ledger *deltaLedger
}

func (d *deltaADS) stream(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	id := deltaStreamIDs | d.streams.Add(1)
	// Each type's watch answers at most twice before its stream reads again (one
	// response per update, and one to a request); caches never block on a full
	// channel (respondDelta), so this is room, not a promise.
	responses := make(chan cachev3.DeltaResponse, 2*int(types.UnknownType))
	watches := map[string]*deltaWatch{}
	node := &corev3.Node{}
	info := parseNode(node)
	defer func() {
		for _, w := range watches {
			w.cancel()
		}
		d.callbacks.OnDeltaStreamClosed(id, node)
	}()
	if err := d.callbacks.OnDeltaStreamOpen(st.Context(), id, resourcev3.AnyType); err != nil {
		return err
	}

	requests := make(chan *discoveryv3.DeltaDiscoveryRequest)
	go func() {
		defer close(requests)
		for {
			req, err := st.Recv()
			if err != nil {
				return
			}
			select {
			case requests <- req:
			case <-st.Context().Done():
				return
			case <-d.ctx.Done():
				return
			}
		}
	}()

	var nonce int64
	order := newStreamOrder()
	clustersBehind := func() bool {
		w := watches[resourcev3.ClusterType]
		return w != nil && w.ledger.behind()
	}
	send := func(resp cachev3.DeltaResponse) error {
		// A response of meshd's caches goes to the codec as its envelope and shared
		// entries (deltaWire): the callbacks see the envelope, without resources.
		var out *discoveryv3.DeltaDiscoveryResponse
		var msg any
		if r, ok := resp.(*deltaResponse); ok {
			out = r.envelope()
			msg = &deltaWire{head: out, entries: r.entries}
		} else {
			var err error
			if out, err = resp.GetDeltaDiscoveryResponse(); err != nil {
				return err
			}
			msg = out
		}
		nonce++
		out.Nonce = strconv.FormatInt(nonce, 10)
		d.callbacks.OnStreamDeltaResponse(id, resp.GetDeltaRequest(), out)
		if err := st.SendMsg(msg); err != nil {
			return err
		}
		order.sent(resp.GetDeltaRequest().GetTypeUrl(), out.Nonce, out.GetSystemVersionInfo())
		if w := watches[resp.GetDeltaRequest().GetTypeUrl()]; w != nil {
			w.sub.returned = resp.GetNextVersionMap()
		}
		return nil
	}
	deliver := func(resp cachev3.DeltaResponse) error {
		return order.deliver(resp, len(responses) > 0, clustersBehind, send)
	}
	for {
		select {
		case <-d.ctx.Done():
			return nil
		case resp := <-responses:
			if err := deliver(resp); err != nil {
				return err
			}
		case req, ok := <-requests:
			if !ok {
				return nil
			}
			// What was answered before this request goes first: the request may ACK it.
			for drained := false; !drained; {
				select {
				case resp := <-responses:
					if err := deliver(resp); err != nil {
						return err
					}
				default:
					drained = true
				}
			}
			if err := d.callbacks.OnStreamDeltaRequest(id, req); err != nil {
				return err
			}
			order.requested(req.GetTypeUrl(), req.GetResponseNonce())
			// Envoy sends its node on the first request only; it is read once.
			if req.GetNode() != nil {
				node, info = req.GetNode(), parseNode(req.GetNode())
			} else {
				req.Node = node
			}
			typ := req.GetTypeUrl()
			if typ == "" {
				return status.Errorf(codes.InvalidArgument, "type URL is required for ADS")
			}
			w := watches[typ]
			if w == nil {
				w = &deltaWatch{sub: newDeltaSubscription(d.sets, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), req.GetInitialResourceVersions()),
					ledger: &deltaLedger{}}
				watches[typ] = w
			} else {
				w.cancel()
				w.sub.update(d.sets, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
			}
			cancel, err := d.server.deltaWatch(req, info, w.sub, responses, w.ledger)
			if err != nil {
				w.cancel = func() {}
				return err
			}
			w.cancel = cancel
		}
		if err := order.release(len(responses) > 0, clustersBehind, send); err != nil {
			return err
		}
	}
}

// adsServer is go-control-plane's ADS server with meshd's incremental streams.
type adsServer struct {
	serverv3.Server
	delta *deltaADS
}

func (a adsServer) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return a.delta.stream(st)
}
