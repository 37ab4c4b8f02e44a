package xds

import (
	"context"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// The protocol's subscription rules: a first request naming nothing is a wildcard
// subscription, and stays one when the stream later names resources, until it
// unsubscribes from "*" (the xDS protocol's example); "*" subscribes to and unsubscribes
// from everything; a name unsubscribed from while wildcard is sent again; a name
// subscribed to and unsubscribed from in one request is unsubscribed.
func TestDeltaSubscriptionRules(t *testing.T) {
	sets := newNameSets()
	names := func(s deltaSubscription) []string { return slices.Sorted(maps.Keys(s.SubscribedResources())) }

	legacy := newDeltaSubscription(sets, nil, nil, nil)
	if !legacy.IsWildcard() {
		t.Fatal("a first request naming nothing is not wildcard")
	}
	legacy.update(sets, nil, []string{"a"})
	if !legacy.IsWildcard() {
		t.Fatal("an empty request ended a legacy wildcard subscription")
	}
	legacy.update(sets, []string{"a"}, nil)
	if !legacy.IsWildcard() || !slices.Equal(names(legacy), []string{"a"}) {
		t.Fatalf("naming a resource: wildcard %v, names %v; want wildcard and a", legacy.IsWildcard(), names(legacy))
	}
	legacy.update(sets, nil, nil)
	legacy.update(sets, nil, []string{"*"})
	if legacy.IsWildcard() || !slices.Equal(names(legacy), []string{"a"}) {
		t.Fatalf("unsubscribing from *: wildcard %v, names %v; want a alone", legacy.IsWildcard(), names(legacy))
	}

	s := newDeltaSubscription(sets, []string{"*", "a", "b"}, nil, map[string]string{"a": "1", "b": "1"})
	if !s.IsWildcard() || !slices.Equal(names(s), []string{"a", "b"}) {
		t.Fatalf("explicit wildcard with names: wildcard %v, names %v", s.IsWildcard(), names(s))
	}
	s.update(sets, nil, []string{"a"})
	if v, ok := s.ReturnedResources()["a"]; !ok || v != "" {
		t.Fatalf("a name unsubscribed from while wildcard is held at %q (%v); want resent (held at no version)", v, ok)
	}
	s.update(sets, nil, []string{"*"})
	if s.IsWildcard() || !slices.Equal(names(s), []string{"b"}) {
		t.Fatalf("after unsubscribing from *: wildcard %v, names %v", s.IsWildcard(), names(s))
	}
	s.update(sets, []string{"c"}, []string{"b", "c"})
	if len(names(s)) != 0 {
		t.Fatalf("subscribed and unsubscribed in one request: names %v, want none", names(s))
	}
	if _, ok := s.ReturnedResources()["b"]; ok {
		t.Fatal("a name unsubscribed from is still held")
	}
	if s.names != sets.empty {
		t.Fatal("an empty subscription is not the shared empty set")
	}
}

// Streams subscribed alike share one set, however they got there, and a set no stream
// holds is forgotten.
func TestNameSetsShared(t *testing.T) {
	sets := newNameSets()
	a := newDeltaSubscription(sets, []string{"x", "y", "z"}, nil, nil)
	b := newDeltaSubscription(sets, []string{"z", "y"}, nil, nil)
	b.update(sets, []string{"w", "x"}, []string{"w"})
	if a.names != b.names {
		t.Fatal("two streams subscribed to x, y and z hold different sets")
	}
	before := a.names
	a.update(sets, []string{"x"}, nil)
	if a.names != before {
		t.Fatal("subscribing to a name already held made a new set")
	}
	a.update(sets, nil, []string{"x"})
	b.update(sets, []string{"q"}, []string{"x", "q"})
	if a.names != b.names || a.names == before || !slices.Equal(slices.Sorted(maps.Keys(a.names.names)), []string{"y", "z"}) {
		t.Fatalf("after unsubscribing from x: shared %v, names %v", a.names == b.names, slices.Sorted(maps.Keys(a.names.names)))
	}
	if _, in := before.names["x"]; !in {
		t.Fatal("a set changed after it was made")
	}
	before, a, b = nil, deltaSubscription{}, deltaSubscription{}
	if n := afterCollection(sets.size); n > 0 {
		t.Fatalf("%d sets no stream holds are still registered", n)
	}
}

// afterCollection is what size reports once the garbage collector has run and the
// cleanups of what it collected have (10 s at most).
func afterCollection(size func() int) int {
	deadline := time.Now().Add(10 * time.Second)
	for size() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	return size()
}

// Through the server: two incremental streams naming the same endpoints (in different
// orders) share one set in the caches' watches, and the tracker tells apart an
// incremental and a state-of-the-world stream (go-control-plane numbers both from 1).
func TestDeltaStreamsShareSubscriptions(t *testing.T) {
	s, ads := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eds := []string{"outbound|9080||reviews.default.svc.cluster.local", "outbound|9080||ratings.default.svc.cluster.local"}
	for i, id := range []string{"delta-a", "delta-b"} {
		st, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := slices.Clone(eds)
		if i == 1 {
			slices.Reverse(names)
		}
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: grpcNode(id), TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: names}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	sotw, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sotw.Send(&discoveryv3.DiscoveryRequest{Node: grpcNode("sotw"), TypeUrl: resourcev3.EndpointType, ResourceNames: eds}); err != nil {
		t.Fatal(err)
	}
	if _, err := sotw.Recv(); err != nil {
		t.Fatal(err)
	}

	s.watchMu.Lock()
	sets := map[uintptr]bool{}
	for e := range s.watches {
		if e.dreq != nil && e.typ == resourcev3.EndpointType {
			sets[reflect.ValueOf(e.sub.SubscribedResources()).Pointer()] = true
			if e.ledger == nil {
				t.Error("an incremental watch was opened without its stream's ledger: each ACK would compare every name")
			}
		}
	}
	s.watchMu.Unlock()
	if len(sets) != 1 {
		t.Errorf("two incremental streams subscribed alike hold %d sets, want 1 shared", len(sets))
	}
	var ids []string
	for _, p := range s.Tracker().Proxies() {
		ids = append(ids, p.NodeID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"delta-a", "delta-b", "sotw"}) {
		t.Errorf("tracked proxies %v, want delta-a, delta-b and sotw", ids)
	}
}
