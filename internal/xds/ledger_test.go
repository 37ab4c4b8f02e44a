package xds

import (
	"fmt"
	"slices"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// deltaClient plays an incremental stream as deltaADS does: one watch per request, the
// returned resources of each response recorded once it is sent.
type deltaClient struct {
	t      testing.TB
	sub    deltaSubscription
	ledger *deltaLedger
	cancel func()
	ch     chan cachev3.DeltaResponse
}

// testSets are the name sets of the cache-level tests' streams.
var testSets = newNameSets()

func newDeltaClient(t testing.TB, names []string, ledger *deltaLedger) *deltaClient {
	return &deltaClient{t: t, sub: newDeltaSubscription(testSets, names, nil, nil), ledger: ledger}
}

// request cancels the open watch and opens one on c for the stream's next request:
// the first one (subscribing), an ACK or a NACK.
func (d *deltaClient) request(c *resourceCache, nonce string, nack bool) {
	d.t.Helper()
	if err := d.try(c, nonce, nack); err != nil {
		d.t.Fatal(err)
	}
}

// try is request, returning the error that would end the stream.
func (d *deltaClient) try(c *resourceCache, nonce string, nack bool) error {
	return d.change(c, nonce, nack, nil, nil)
}

// change is a request that also subscribes to and unsubscribes from names.
func (d *deltaClient) change(c *resourceCache, nonce string, nack bool, subscribe, unsubscribe []string) error {
	d.t.Helper()
	if d.cancel != nil {
		// deltaADS sends what is waiting before it reads a request.
		if got := d.take(); got != nil {
			d.t.Fatalf("request %q with %v not taken", nonce, got)
		}
		d.cancel()
	}
	d.sub.update(testSets, subscribe, unsubscribe)
	req := &cachev3.DeltaRequest{TypeUrl: c.typeURL, ResponseNonce: nonce, ResourceNamesSubscribe: subscribe, ResourceNamesUnsubscribe: unsubscribe}
	if nack {
		req.ErrorDetail = &status.Status{Message: "rejected"}
	}
	d.ch = make(chan cachev3.DeltaResponse, 1)
	cancel, err := c.open(&cacheWatch{dreq: req, dch: d.ch, sub: d.sub, nacked: nack, ledger: d.ledger})
	d.cancel = cancel
	return err
}

// take sends the response waiting on the open watch, if any, and returns the names it
// carried (nil: none waiting).
func (d *deltaClient) take() []string {
	select {
	case r := <-d.ch:
		d.sub.returned = r.GetNextVersionMap()
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

	// Missed longer ago than the change log reaches: the stream is told to reconnect,
	// and then says what it holds.
	a.update(entries(a.typeURL, "cla-05", "v2"), nil)
	d.cancel()
	for i := range changeLog + 1 {
		a.update(entries(a.typeURL, "other", fmt.Sprint(i)), nil)
	}
	if err := d.try(a, "5", false); err == nil {
		t.Fatal("a stream further behind than the change log was not told to reconnect")
	}
	holds := map[string]string{}
	for _, n := range names {
		holds[n] = a.get(n).version
	}
	holds["cla-05"] = newCachedEntry(a.typeURL, "cla-05", []byte("v1")).version
	d = &deltaClient{t: t, sub: newDeltaSubscription(testSets, names, nil, holds), ledger: &deltaLedger{}}
	d.request(a, "", false)
	d.expect("reconnected", "cla-05")
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

// Subscribing and unsubscribing on a stream whose map is kept short: a name subscribed
// later is sent, one unsubscribed is not sent again when it changes, a wildcard stream
// is told of deletions it missed, and gets again a name it subscribed to by hand and
// then unsubscribed from (the protocol's way to ask whether it still exists).
func TestDeltaLedgerSubscriptions(t *testing.T) {
	c := newResourceCache(resourcev3.ClusterType)
	c.update(entries(c.typeURL, "a", "1", "b", "1", "c", "1"), nil)
	d := newDeltaClient(t, []string{"a"}, &deltaLedger{})
	d.request(c, "", false)
	d.expect("first request", "a")
	if err := d.change(c, "1", false, []string{"b"}, nil); err != nil {
		t.Fatal(err)
	}
	d.expect("subscribed to b", "b")
	if err := d.change(c, "2", false, nil, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	d.expect("unsubscribed from a")
	d.cancel()
	c.update(entries(c.typeURL, "a", "2"), nil)
	d.request(c, "3", false)
	d.expect("a changed after it was unsubscribed")

	w := &deltaClient{t: t, sub: newDeltaSubscription(testSets, []string{"*", "b"}, nil, nil), ledger: &deltaLedger{}}
	w.request(c, "", false)
	w.expect("wildcard", "a", "b", "c")
	w.request(c, "1", false)
	w.cancel()
	c.update(nil, []string{"c"})
	w.request(c, "2", false)
	w.expect("deleted while no watch was open", "c")
	if err := w.change(c, "3", false, nil, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	w.expect("wildcard unsubscribing b by hand", "b")
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

// Found in review: a NACK that also subscribes to a name is sent that name; a stream
// turning wildcard gets what it did not subscribe to; a NACK's watch kept past the
// change log still gets what it held back; a stream moved past the change log's reach
// is sent everything, then told to reconnect.
func TestDeltaLedgerEdges(t *testing.T) {
	c := newResourceCache(resourcev3.EndpointType)
	c.update(entries(c.typeURL, "a", "1", "b", "1"), nil)
	d := newDeltaClient(t, []string{"a"}, &deltaLedger{})
	d.request(c, "", false)
	d.expect("first", "a")
	if err := d.change(c, "1", true, []string{"b"}, nil); err != nil {
		t.Fatal(err)
	}
	d.expect("NACK subscribing to b", "b")

	w := newDeltaClient(t, []string{"a"}, &deltaLedger{})
	w.request(c, "", false)
	w.expect("first", "a")
	if err := w.change(c, "1", false, []string{"*"}, nil); err != nil {
		t.Fatal(err)
	}
	w.expect("turning wildcard", "a", "b")

	n := newDeltaClient(t, []string{"a", "b"}, &deltaLedger{})
	n.request(c, "", false)
	n.expect("first", "a", "b")
	n.cancel()
	c.update(entries(c.typeURL, "b", "2"), nil)
	n.request(c, "1", true)
	n.expect("NACK")
	for i := range changeLog + 1 {
		c.update(entries(c.typeURL, "other", fmt.Sprint(i)), nil)
	}
	c.update(entries(c.typeURL, "a", "2"), nil)
	n.expect("a change after the log no longer reaches the NACK", "a", "b")
	if err := n.try(c, "2", false); err == nil {
		t.Fatal("a stream whose held-back changes fell out of the log was not told to reconnect")
	}

	a := newResourceCache(resourcev3.ClusterType)
	a.update(entries(a.typeURL, "a", "1", "b", "1", "c", "1"), nil)
	m := &deltaClient{t: t, sub: newDeltaSubscription(testSets, nil, nil, nil), ledger: &deltaLedger{}}
	m.request(a, "", false)
	m.expect("first", "a", "b", "c")
	m.cancel()
	a.update(nil, []string{"c"})
	for i := range changeLog + 1 {
		a.update(entries(a.typeURL, "a", fmt.Sprint(i)), nil)
	}
	b := newResourceCache(resourcev3.ClusterType)
	b.update([]*cachedEntry{a.get("a"), a.get("b")}, nil)
	m.cancel = nil
	m.request(b, "1", false)
	m.expect("moved past the log's reach", "a", "b")
	if err := m.try(b, "2", false); err == nil {
		t.Fatal("a stream moved past the log's reach was not told to reconnect")
	}
}
