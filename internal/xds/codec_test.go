package xds

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Responses the cache did not build (SDS) and requests are the proto codec's.
func TestResponseCodecOthers(t *testing.T) {
	codec := newResponseCodec()
	for _, m := range []proto.Message{
		&discoveryv3.DiscoveryResponse{VersionInfo: "v1", TypeUrl: "t", Nonce: "3",
			Resources: []*anypb.Any{{TypeUrl: "type.googleapis.com/x", Value: []byte("secret")}}},
		&discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: "s", TypeUrl: "t", Nonce: "4", RemovedResources: []string{"gone"},
			Resources: []*discoveryv3.Resource{{Name: "a", Version: "1", Aliases: []string{"alias"}, Ttl: durationpb.New(5)}}},
		&discoveryv3.DeltaDiscoveryRequest{TypeUrl: "t", ResourceNamesSubscribe: []string{"a"}},
	} {
		out, err := codec.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := codec.Unmarshal(out, got); err != nil || !proto.Equal(got, m) {
			t.Fatalf("%T round trip: %v (%v), want %v", m, got, err, m)
		}
	}
}

// A response the cache built is its envelope and its entries' shared encodings: it
// decodes to the response, two streams' encodings reference the same bytes, and a
// large resource's bytes are the cache entry's own, not a copy.
func TestResponseCodecSharesEntries(t *testing.T) {
	es := entries("type.googleapis.com/x", "a", "small", "b", string(bytes.Repeat([]byte{9}, 4*inlineValue)))
	codec := newResponseCodec()
	for _, build := range []func() (any, proto.Message){
		func() (any, proto.Message) {
			m, _ := (&sotwResponse{req: &discoveryv3.DiscoveryRequest{TypeUrl: "t"}, version: "v", entries: es}).GetDiscoveryResponse()
			return m, m
		},
		func() (any, proto.Message) {
			return deltaEncoding(&deltaResponse{req: &discoveryv3.DeltaDiscoveryRequest{TypeUrl: "t"}, version: "v", entries: es, removed: []string{"c"}})
		},
	} {
		first, want := build()
		second, _ := build()
		a, err := codec.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		b, err := codec.Marshal(second)
		if err != nil {
			t.Fatal(err)
		}
		got := want.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(a.Materialize(), got); err != nil || !proto.Equal(got, want) {
			t.Fatalf("decoded %v (%v), want %v", got, err, want)
		}
		if len(a) != len(b) || len(a) < 2 {
			t.Fatalf("encodings of %d and %d pieces", len(a), len(b))
		}
		large := es[1].any.GetValue()
		referenced := false
		for i := 1; i < len(a); i++ {
			if &a[i].ReadOnlyData()[0] != &b[i].ReadOnlyData()[0] {
				t.Fatalf("%T: piece %d was made per stream, not shared", first, i)
			}
			referenced = referenced || &a[i].ReadOnlyData()[0] == &large[0]
		}
		if !referenced {
			t.Fatalf("%T: a large resource was copied, not referenced", first)
		}
	}
}

// A response of many entries (a sidecar's first clusters) is its envelope and one run
// of its entries' encodings, shared by every response that carries the same entries
// in the same order; it decodes to the response, large resources included.
func TestResponseCodecJoinsLongRuns(t *testing.T) {
	var kv []string
	for i := range joinAt + 1 {
		kv = append(kv, fmt.Sprintf("c%03d", i), fmt.Sprintf("cluster %d", i))
	}
	kv = append(kv, "large", string(bytes.Repeat([]byte{7}, 4*inlineValue)))
	es := entries("type.googleapis.com/x", kv...)
	codec := newResponseCodec()
	for _, build := range []func([]*cachedEntry) (any, proto.Message){
		func(es []*cachedEntry) (any, proto.Message) {
			m, _ := (&sotwResponse{req: &discoveryv3.DiscoveryRequest{TypeUrl: "t"}, version: "v", entries: es}).GetDiscoveryResponse()
			return m, m
		},
		func(es []*cachedEntry) (any, proto.Message) {
			return deltaEncoding(&deltaResponse{req: &discoveryv3.DeltaDiscoveryRequest{TypeUrl: "t"}, version: "v", entries: es})
		},
	} {
		first, want := build(es)
		a, err := codec.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		second, _ := build(es)
		b, err := codec.Marshal(second)
		if err != nil {
			t.Fatal(err)
		}
		got := want.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(a.Materialize(), got); err != nil || !proto.Equal(got, want) {
			t.Fatalf("%T: decoded %v (%v), want %v", first, got, err, want)
		}
		if len(a) != 2 || len(b) != 2 || &a[1].ReadOnlyData()[0] != &b[1].ReadOnlyData()[0] {
			t.Fatalf("%T: encodings of %d and %d pieces, want the envelope and one shared run", first, len(a), len(b))
		}
		reordered := slices.Clone(es)
		reordered[0], reordered[1] = reordered[1], reordered[0]
		third, _ := build(reordered)
		c, err := codec.Marshal(third)
		if err != nil {
			t.Fatal(err)
		}
		if &c[1].ReadOnlyData()[0] == &a[1].ReadOnlyData()[0] {
			t.Fatalf("%T: entries in another order were sent as the same run", first)
		}
		a.Free()
		b.Free()
		c.Free()
	}
}

// deltaEncoding is what an incremental stream hands the codec for r, and the whole
// response it must decode to.
func deltaEncoding(r *deltaResponse) (any, proto.Message) {
	want, _ := r.GetDeltaDiscoveryResponse()
	return &deltaWire{head: r.envelope(), entries: r.entries}, want
}
