package xds

import (
	"bytes"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The response codec's encoding decodes to the response it was given, resources small
// (copied) and large (referenced) alike, and large ones are referenced, not copied.
func TestResponseCodec(t *testing.T) {
	small := &anypb.Any{TypeUrl: "type.googleapis.com/x", Value: []byte("small")}
	large := &anypb.Any{TypeUrl: "type.googleapis.com/y", Value: bytes.Repeat([]byte{7}, 4*inlineValue)}
	empty := &anypb.Any{TypeUrl: "type.googleapis.com/z"}
	codec := newResponseCodec()
	for _, m := range []proto.Message{
		&discoveryv3.DiscoveryResponse{VersionInfo: "v1", TypeUrl: "t", Nonce: "3", Resources: []*anypb.Any{small, large, empty}},
		&discoveryv3.DiscoveryResponse{VersionInfo: "v2", TypeUrl: "t"},
		&discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: "s", TypeUrl: "t", Nonce: "4", RemovedResources: []string{"gone"},
			Resources: []*discoveryv3.Resource{
				{Name: "a", Version: "1", Resource: large, Aliases: []string{"alias"}, Ttl: durationpb.New(5)},
				{Name: "b", Version: "2", Resource: small},
				{Name: "c", Version: "3"},
			}},
	} {
		out, err := codec.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(out.Materialize(), got); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !proto.Equal(got, m) {
			t.Fatalf("decoded %v, want %v", got, m)
		}
		referenced := false
		for _, b := range out {
			if d := b.ReadOnlyData(); len(d) > 0 && &d[0] == &large.Value[0] {
				referenced = true
			}
		}
		if holdsLarge := bytes.Contains(out.Materialize(), large.Value); referenced != holdsLarge {
			t.Fatalf("%T: a large resource was copied, not referenced", m)
		}
	}
	// Requests are the proto codec's.
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: "t", ResourceNamesSubscribe: []string{"a"}}
	out, err := codec.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got := &discoveryv3.DeltaDiscoveryRequest{}
	if err := codec.Unmarshal(out, got); err != nil || !proto.Equal(got, req) {
		t.Fatalf("request round trip: %v, %v", got, err)
	}
}

// A response the cache built is its envelope and its entries' shared encodings: it
// decodes to the response, and two streams' encodings reference the same bytes.
func TestResponseCodecSharesEntries(t *testing.T) {
	es := entries("type.googleapis.com/x", "a", "small", "b", string(bytes.Repeat([]byte{9}, 4*inlineValue)))
	codec := newResponseCodec()
	for _, build := range []func() proto.Message{
		func() proto.Message {
			m, _ := (&sotwResponse{req: &discoveryv3.DiscoveryRequest{TypeUrl: "t"}, version: "v", entries: es}).GetDiscoveryResponse()
			return m
		},
		func() proto.Message {
			m, _ := (&deltaResponse{req: &discoveryv3.DeltaDiscoveryRequest{TypeUrl: "t"}, version: "v", entries: es, removed: []string{"c"}}).GetDeltaDiscoveryResponse()
			return m
		},
	} {
		first, second := build(), build()
		a, err := codec.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		b, err := codec.Marshal(second)
		if err != nil {
			t.Fatal(err)
		}
		got := first.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(a.Materialize(), got); err != nil || !proto.Equal(got, first) {
			t.Fatalf("decoded %v (%v), want %v", got, err, first)
		}
		if len(a) != len(b) || len(a) < 2 {
			t.Fatalf("encodings of %d and %d pieces", len(a), len(b))
		}
		for i := 1; i < len(a); i++ {
			if &a[i].ReadOnlyData()[0] != &b[i].ReadOnlyData()[0] {
				t.Fatalf("%T: piece %d was made per stream, not shared", first, i)
			}
		}
	}
}
