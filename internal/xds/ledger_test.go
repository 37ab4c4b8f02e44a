package xds

import (
	"fmt"
	"slices"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// deltaClient plays an incremental stream as go-control-plane's server does: one
// watch per request, the returned resources of each response recorded once it is sent.
type deltaClient struct {
	t      testing.TB
	sub    streamv3.Subscription
	ledger *deltaLedger
	cancel func()
	ch     chan cachev3.DeltaResponse
}

func newDeltaClient(t testing.TB, names []string, ledger *deltaLedger) *deltaClient {
	return &deltaClient{t: t, sub: streamv3.NewDeltaSubscription(names, nil, nil, false), ledger: ledger}
}

// request cancels the open watch and opens one on c for the stream's next request:
// the first one (subscribing), an ACK or a NACK.
func (d *deltaClient) request(c *resourceCache, nonce string, nack bool) {
	d.t.Helper()
	if d.cancel != nil {
		// go-control-plane sends what is waiting before it reads a request.
		if got := d.take(); got != nil {
			d.t.Fatalf("request %q with %v not taken", nonce, got)
		}
		d.cancel()
	}
	req := &cachev3.DeltaRequest{TypeUrl: c.typeURL, ResponseNonce: nonce}
	if nack {
		req.ErrorDetail = &status.Status{Message: "rejected"}
	}
	d.ch = make(chan cachev3.DeltaResponse, 1)
	cancel, err := c.open(&cacheWatch{dreq: req, dch: d.ch, sub: d.sub, nacked: nack, ledger: d.ledger, pureAck: pureAck(req)})
	if err != nil {
		d.t.Fatal(err)
	}
	d.cancel = cancel
}

// take sends the response waiting on the open watch, if any, and returns the names it
// carried (nil: none waiting).
func (d *deltaClient) take() []string {
	select {
	case r := <-d.ch:
		d.sub.SetReturnedResources(r.GetNextVersionMap())
		out, _ := r.GetDeltaDiscoveryResponse()
		names := []string{}
		for _, res := range out.GetResources() {
			names = append(names, res.GetName())
		}
		return append(names, out.GetRemovedResources()...)
	default:
		return nil
	}
}

func (d *deltaClient) expect(what string, want ...string) {
	d.t.Helper()
	if got := d.take(); !slices.Equal(got, want) || (got == nil) != (want == nil) {
		d.t.Fatalf("%s: the stream was sent %v, want %v", what, got, want)
	}
}

// An ACK is checked against what changed since the stream's last answer, and still gets
// every change it missed: made while no watch was open, too long ago for the change log,
// on another cache it was served from meanwhile, or held back after a NACK.
func TestDeltaLedger(t *testing.T) {
	a := newResourceCache(resourcev3.EndpointType)
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("cla-%02d", i))
		a.update(entries(a.typeURL, names[i], "v1"), nil)
	}
	a.update(entries(a.typeURL, "other", "v1"), nil)
	led := &deltaLedger{}
	d := newDeltaClient(t, names, led)

	d.request(a, "", false)
	d.expect("first request", names...)
	d.request(a, "1", false)
	d.expect("ACK with nothing changed")

	// Changed while the stream had an open watch: answered by the update.
	a.update(entries(a.typeURL, "cla-03", "v2"), nil)
	d.expect("change with a watch open", "cla-03")

	// Changed while no watch was open (the response sent, its ACK not yet in).
	a.update(entries(a.typeURL, "cla-04", "v2", "other", "v2"), nil)
	d.request(a, "2", false)
	d.expect("ACK after a change it missed", "cla-04")

	// Served by another cache (its scope moved), then by this one again with nothing
	// changed here: the stream holds the other cache's versions.
	b := newResourceCache(resourcev3.EndpointType)
	for _, n := range a.names() {
		b.update([]*cachedEntry{a.get(n)}, nil)
	}
	b.update(entries(b.typeURL, "cla-01", "elsewhere"), nil)
	d.request(b, "3", false)
	d.expect("moved to another cache", "cla-01")
	d.request(a, "4", false)
	d.expect("back on the first cache", "cla-01")

	// Missed longer ago than the change log reaches.
	a.update(entries(a.typeURL, "cla-05", "v2"), nil)
	d.cancel()
	for i := range changeLog + 1 {
		a.update(entries(a.typeURL, "other", fmt.Sprint(i)), nil)
	}
	d.request(a, "5", false)
	d.expect("ACK after more updates than the log holds", "cla-05")
	d.request(a, "6", false)
	d.expect("ACK with nothing changed")

	// A NACK's watch holds back a change made before it (the proxy keeps its last
	// good config); the next ACK gets it.
	a.update(entries(a.typeURL, "cla-06", "v2"), nil)
	d.expect("change with a watch open", "cla-06")
	a.update(entries(a.typeURL, "cla-07", "v2"), nil)
	d.request(a, "7", true)
	d.expect("NACK")
	d.request(a, "8", false)
	d.expect("ACK after a NACK", "cla-07")
}

// BenchmarkDeltaAck is one endpoint change reaching 2,000 incremental streams that each
// subscribe to 1,000 names, and their ACKs: with the ledger an ACK costs what changed,
// without it every subscribed name.
func BenchmarkDeltaAck(b *testing.B) {
	for _, ledgered := range []bool{true, false} {
		b.Run(fmt.Sprintf("ledger=%v", ledgered), func(b *testing.B) {
			c := newResourceCache(resourcev3.EndpointType)
			var names []string
			var kv []string
			for i := range 1000 {
				names = append(names, fmt.Sprintf("outbound|9080||svc-%d.ns.svc.cluster.local", i))
				kv = append(kv, names[i], "v0")
			}
			c.update(entries(c.typeURL, kv...), nil)
			streams := make([]*deltaClient, 2000)
			for i := range streams {
				var led *deltaLedger
				if ledgered {
					led = &deltaLedger{}
				}
				streams[i] = newDeltaClient(b, names, led)
				streams[i].request(c, "", false)
				streams[i].take()
				streams[i].request(c, "1", false)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c.update(entries(c.typeURL, names[i%len(names)], fmt.Sprint(i)), nil)
				for _, s := range streams {
					if s.take() == nil {
						b.Fatal("a stream was not sent the change")
					}
					s.request(c, "ack", false)
				}
			}
		})
	}
}
