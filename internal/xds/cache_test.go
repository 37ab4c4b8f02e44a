package xds

import (
	"fmt"
	"slices"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// sotwClient plays a state-of-the-world stream against one cache, as go-control-plane's
// server does: it keeps the returned resources of every response and ACKs it.
type sotwClient struct {
	t       *testing.T
	cache   *resourceCache
	sub     streamv3.Subscription
	version string
	names   []string
	cancel  func()
	ch      chan cachev3.Response
	acks    bool
}

func newSotwClient(t *testing.T, c *resourceCache, names ...string) *sotwClient {
	return &sotwClient{t: t, cache: c, sub: streamv3.NewSotwSubscription(names, true), names: names}
}

// request opens a watch (an ACK of the last response, or a NACK) and returns the
// response it got at once, if any.
func (s *sotwClient) request(nack bool) *discoveryv3.DiscoveryResponse {
	s.t.Helper()
	if s.cancel != nil {
		s.cancel()
	}
	req := &cachev3.Request{TypeUrl: s.cache.typeURL, VersionInfo: s.version, ResourceNames: s.names}
	if s.acks {
		req.ResponseNonce = "ack" // answers the last response
	}
	s.acks = true
	if nack {
		req.ErrorDetail = &status.Status{Message: "rejected"}
	}
	s.ch = make(chan cachev3.Response, 1)
	cancel, err := s.cache.open(&cacheWatch{req: req, ch: s.ch, sub: &s.sub, nacked: nack})
	if err != nil {
		s.t.Fatal(err)
	}
	s.cancel = cancel
	return s.take()
}

// take returns the response waiting on the open watch, if any, recording it.
func (s *sotwClient) take() *discoveryv3.DiscoveryResponse {
	select {
	case r := <-s.ch:
		out, _ := r.GetDiscoveryResponse()
		s.sub.SetReturnedResources(r.GetReturnedResources())
		s.version = out.GetVersionInfo()
		return out
	default:
		return nil
	}
}

func entries(typeURL string, kv ...string) []*cachedEntry {
	var out []*cachedEntry
	for i := 0; i < len(kv); i += 2 {
		out = append(out, newCachedEntry(typeURL, kv[i], []byte(kv[i+1])))
	}
	return out
}

func sentNames(r *discoveryv3.DiscoveryResponse, c *resourceCache) []string {
	var out []string
	for _, a := range r.GetResources() {
		for _, n := range c.names() {
			if c.get(n).any == a {
				out = append(out, n)
			}
		}
	}
	return out
}

// EDS and RDS responses carry only what the stream lacks; their version names the
// content of the whole subscription, so a stream reconnecting with it (to a restarted
// or another meshd with the same config) is sent nothing new.
func TestCacheSendsOnlyWhatChanged(t *testing.T) {
	c := newResourceCache(resourcev3.EndpointType)
	c.update(entries(resourcev3.EndpointType, "a", "1", "b", "2", "c", "3"), nil)
	p := newSotwClient(t, c, "a", "b")
	r := syncThenChange(t, c, p, "c", "b")
	if r.GetVersionInfo() != c.version([]string{"a", "b"}, false) {
		t.Fatalf("version %s is not the subscription's %s", r.GetVersionInfo(), c.version([]string{"a", "b"}, false))
	}
	// A change between a response and its ACK is sent in answer to the ACK.
	c.update(entries(resourcev3.EndpointType, "a", "111", "c", "333"), nil)
	if got := sentNames(p.request(false), c); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a change before the ACK sent %v, want a", got)
	}
	if p.request(false) != nil {
		t.Fatal("the ACK of the catch-up was answered")
	}
	if p.version != c.version([]string{"a", "b"}, false) {
		t.Fatal("after catching up the stream's version is not the subscription's")
	}
	c.update(entries(resourcev3.EndpointType, "a", "1"), nil)
	p.take()
	p.request(false)

	// Another replica holding the same config gives the same version, and a stream
	// that reconnects to it with that version gets no resource.
	other := newResourceCache(resourcev3.EndpointType)
	other.update(entries(resourcev3.EndpointType, "b", "changed", "a", "1"), nil)
	back := newSotwClient(t, other, "a", "b")
	back.version = p.version
	if r := back.request(false); len(r.GetResources()) != 0 {
		t.Fatalf("a reconnecting stream holding the same config was sent %d resources", len(r.GetResources()))
	}
	if back.request(false) != nil {
		t.Fatal("the ACK after a reconnect was answered")
	}
	other.update(entries(resourcev3.EndpointType, "a", "11"), nil)
	if got := sentNames(back.take(), other); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after reconnecting, a change sent %v, want only a", got)
	}
	if back.request(false) != nil {
		t.Fatal("the ACK after a change resent what the stream holds")
	}
}

// Listeners and clusters go out whole, with a version that names their content; a NACK
// is not answered with the same config again.
func TestCacheFullStateAndNack(t *testing.T) {
	c := newResourceCache(resourcev3.ClusterType)
	c.update(entries(resourcev3.ClusterType, "x", "1", "y", "2"), nil)
	p := newSotwClient(t, c)
	if got := sentNames(p.request(false), c); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("CDS carried %v", got)
	}
	if p.request(false) != nil {
		t.Fatal("an ACK of the current clusters was answered")
	}
	c.update(entries(resourcev3.ClusterType, "y", "22"), nil)
	if got := sentNames(p.take(), c); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("CDS after a change carried %v, want everything", got)
	}
	if p.request(true) != nil {
		t.Fatal("a NACK was answered with the config it rejected")
	}
	c.update(nil, []string{"x"})
	if got := sentNames(p.take(), c); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("CDS after a deletion carried %v, want y", got)
	}
	same := newResourceCache(resourcev3.ClusterType)
	same.update(entries(resourcev3.ClusterType, "y", "22"), nil)
	if c.version(nil, true) != same.version(nil, true) {
		t.Fatal("the same clusters have different versions in two caches")
	}
}

// Incremental streams get changed and removed resources by name.
func TestCacheDelta(t *testing.T) {
	c := newResourceCache(resourcev3.ClusterType)
	c.update(entries(resourcev3.ClusterType, "x", "1", "y", "2"), nil)
	sub := newDeltaSubscription(testSets, nil, nil, nil)
	watch := func() chan cachev3.DeltaResponse {
		ch := make(chan cachev3.DeltaResponse, 1)
		if _, err := c.open(&cacheWatch{dreq: &cachev3.DeltaRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: "n"}, dch: ch, sub: sub}); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	read := func(ch chan cachev3.DeltaResponse) *discoveryv3.DeltaDiscoveryResponse {
		select {
		case r := <-ch:
			sub.returned = r.GetReturnedResources()
			out, _ := r.GetDeltaDiscoveryResponse()
			return out
		default:
			return nil
		}
	}
	r := read(watch())
	if len(r.GetResources()) != 2 {
		t.Fatalf("first delta response carried %d resources", len(r.GetResources()))
	}
	ch := watch()
	if read(ch) != nil {
		t.Fatal("nothing changed, yet the delta watch was answered")
	}
	c.update(entries(resourcev3.ClusterType, "x", "11"), []string{"y"})
	r = read(ch)
	if len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != "x" || !slices.Equal(r.GetRemovedResources(), []string{"y"}) {
		t.Fatalf("delta update: %v", r)
	}
}

// A stream subscribed to many names (Envoy's endpoints) is woken by a change to any of
// them, and only by those.
func TestCacheBroadSubscription(t *testing.T) {
	c := newResourceCache(resourcev3.EndpointType)
	var names []string
	var kv []string
	for i := range broadWatch + 4 {
		names = append(names, fmt.Sprintf("cla-%02d", i))
		kv = append(kv, names[i], "v1")
	}
	c.update(entries(resourcev3.EndpointType, append(kv, "other", "v1")...), nil)
	syncThenChange(t, c, newSotwClient(t, c, names...), "other", "cla-07")
}

// syncThenChange syncs p (its first response carries every name it subscribes to, its
// ACK is not answered), then checks that a change to the unsubscribed name does not
// wake it and a change to the subscribed one sends that one alone, which it returns.
func syncThenChange(t *testing.T, c *resourceCache, p *sotwClient, unsubscribed, subscribed string) *discoveryv3.DiscoveryResponse {
	t.Helper()
	if got := sentNames(p.request(false), c); !slices.Equal(got, p.names) {
		t.Fatalf("first response carried %v, want %v", got, p.names)
	}
	if p.request(false) != nil {
		t.Fatal("an ACK with nothing changed was answered")
	}
	c.update(entries(c.typeURL, unsubscribed, "changed"), nil)
	if p.take() != nil {
		t.Fatal("a change to an unsubscribed resource woke the stream")
	}
	c.update(entries(c.typeURL, subscribed, "changed"), nil)
	r := p.take()
	if got := sentNames(r, c); !slices.Equal(got, []string{subscribed}) {
		t.Fatalf("after %s changed the stream got %v, want it alone", subscribed, got)
	}
	return r
}
