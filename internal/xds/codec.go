package xds

import (
	"runtime"
	"slices"
	"sync"
	"weak"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// responseCodec is the xDS server's gRPC codec. A response's resources are marshalled
// once and shared by every stream (cachedEntry), but gRPC's proto codec copies them
// into a fresh buffer per stream, and its buffer pool clears the whole buffer first: a
// 300 kB route configuration pushed to 2,000 streams was 600 MB cleared and 600 MB
// copied, 13% of meshd's CPU at fleet scale. And gRPC holds each stream's copy until
// it is sent: at a fleet's initial sync, 2,000 streams each waiting to send a thousand
// clusters held 1.4 GB.
//
// So a response meshd's cache built (sotwResponse, deltaResponse) is encoded as its
// envelope followed by its entries' encodings as response fields, each made once per
// entry (wire) and shared. Anything else (SDS, requests) goes through the proto codec.
//
// Responses are built afresh for each stream, so setting their resources aside while
// the envelope is marshalled touches nothing shared.
type responseCodec struct{ encoding.CodecV2 }

// builtFrom maps a response the cache built to the entries it carries, in order, from
// GetDiscoveryResponse to the codec's Marshal, which go-control-plane's
// state-of-the-world server calls in turn on the stream's goroutine. Keys are weak: a
// response never sent (its stream failed first) takes its mapping with it when
// collected. meshd's own incremental streams hand the codec their entries directly
// (deltaWire): the weak key and its cleanup were a sixth of a stream's cost per push.
type builtMap[T any] struct{ m sync.Map }

var builtSotw builtMap[discoveryv3.DiscoveryResponse]

// deltaWire is an incremental response as meshd's streams send it: its envelope (no
// resources) and the shared entries that are its resources, in order.
type deltaWire struct {
	head    *discoveryv3.DeltaDiscoveryResponse
	entries []*cachedEntry
}

func (b *builtMap[T]) store(p *T, entries []*cachedEntry) {
	k := weak.Make(p)
	b.m.Store(k, entries)
	runtime.AddCleanup(p, func(k weak.Pointer[T]) { b.m.Delete(k) }, k)
}

func (b *builtMap[T]) take(p *T) ([]*cachedEntry, bool) {
	v, ok := b.m.LoadAndDelete(weak.Make(p))
	if !ok {
		return nil, false
	}
	return v.([]*cachedEntry), true
}

// wire is the entry's encoding as a resource field of a response: [0] of a
// state-of-the-world one (an Any), [1] of an incremental one (a Resource). Made once,
// on first use, and never changed.
func (e *cachedEntry) wire(delta bool) mem.BufferSlice {
	i := 0
	if delta {
		i = 1
	}
	if w := e.wires[i].Load(); w != nil {
		return *w
	}
	var w responseWriter
	if delta {
		rest, _ := proto.Marshal(&discoveryv3.Resource{Name: e.name, Version: e.version}) // strings only: cannot fail
		w.field(2, len(rest)+protowire.SizeTag(2)+protowire.SizeBytes(anyLen(e.any)))
		w.buf = append(w.buf, rest...)
	}
	w.field(2, anyLen(e.any))
	w.any(e.any)
	out := w.done()
	e.wires[i].Store(&out)
	return out
}

// prebuilt is the encoding of m, whose resources are held in field, from the shared
// wires of built, the entries the cache built it from.
func prebuilt[T any](m proto.Message, field *[]T, built []*cachedEntry, delta bool) (mem.BufferSlice, error) {
	head, err := marshalWithout(m, field)
	if err != nil {
		return nil, err
	}
	if len(built) >= joinAt {
		return mem.BufferSlice{mem.SliceBuffer(head), joined(built, delta)}, nil
	}
	out := mem.BufferSlice{mem.SliceBuffer(head)}
	for _, e := range built {
		out = append(out, e.wire(delta)...)
	}
	return out, nil
}

// joinAt is the number of entries from which a response's entries are sent as one
// shared run of bytes (joined) rather than a piece per entry. A sidecar's first
// clusters and endpoints are a thousand entries each, alike for every sidecar of its
// scope: as pieces, each stream's response was a slice of a thousand buffers, and gRPC
// allocates per frame once a frame spans more than 64 of them. Both were about a third
// of the garbage of 2,000 sidecars' initial sync.
const joinAt = 64

// joinedRun is the wires of a run of entries, in order, as one buffer.
type joinedRun struct {
	entries []*cachedEntry
	delta   bool
	data    []byte
}

// joinedRuns holds the runs streams may still send, weakly: a response in gRPC's
// queue keeps its run alive (joined's buffer points into it), and a run no response
// holds is collected and forgotten.
var joinedRuns sync.Map // run key -> weak.Pointer[joinedRun]

// joined returns the wires of built as one buffer, shared with every response that
// carries the same entries in the same order.
func joined(built []*cachedEntry, delta bool) mem.Buffer {
	key := uint64(len(built))
	if delta {
		key = ^key
	}
	for _, e := range built {
		key = key*1099511628211 ^ e.mix
	}
	if v, ok := joinedRuns.Load(key); ok {
		if r := v.(weak.Pointer[joinedRun]).Value(); r != nil && r.delta == delta && slices.Equal(r.entries, built) {
			return r.buffer()
		}
	}
	r := &joinedRun{entries: slices.Clone(built), delta: delta}
	size := 0
	for _, e := range built {
		size += e.wire(delta).Len()
	}
	r.data = make([]byte, 0, size)
	for _, e := range built {
		for _, b := range e.wire(delta) {
			r.data = append(r.data, b.ReadOnlyData()...)
		}
	}
	w := weak.Make(r)
	joinedRuns.Store(key, w)
	runtime.AddCleanup(r, func(key uint64) { joinedRuns.CompareAndDelete(key, w) }, key)
	return r.buffer()
}

// buffer is a reference to the run's bytes that keeps the run alive until gRPC has
// sent it and freed the buffer (a pointer into the run keeps all of it).
func (r *joinedRun) buffer() mem.Buffer { return mem.NewBuffer(&r.data, keepPool{}) }

// keepPool is the pool of joined runs' buffers: they are shared, so a freed one is
// left to the garbage collector once no response and no run holds it.
type keepPool struct{}

func (keepPool) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (keepPool) Put(*[]byte)       {}

func newResponseCodec() responseCodec { return responseCodec{encoding.GetCodecV2("proto")} }

// inlineValue is the size under which a resource's bytes are copied into its wire's
// header rather than referenced: a buffer of its own costs more than the copy.
const inlineValue = 512

func (c responseCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *discoveryv3.DiscoveryResponse:
		if built, ok := builtSotw.take(m); ok && len(built) == len(m.Resources) {
			return prebuilt(m, &m.Resources, built, false)
		}
	case *deltaWire:
		return prebuilt(m.head, &m.head.Resources, m.entries, true)
	}
	return c.CodecV2.Marshal(v)
}

// marshalWithout marshals m with one of its fields set aside (restored after).
func marshalWithout[T any](m proto.Message, field *T) ([]byte, error) {
	saved := *field
	var zero T
	*field = zero
	defer func() { *field = saved }()
	return proto.Marshal(m)
}

// anyLen is the encoded size of an Any.
func anyLen(a *anypb.Any) int {
	n := 0
	if a.GetTypeUrl() != "" {
		n += protowire.SizeTag(1) + protowire.SizeBytes(len(a.GetTypeUrl()))
	}
	if len(a.GetValue()) > 0 {
		n += protowire.SizeTag(2) + protowire.SizeBytes(len(a.GetValue()))
	}
	return n
}

// responseWriter builds a wire: small written pieces and the shared resource bytes
// between them.
type responseWriter struct {
	out mem.BufferSlice
	buf []byte
}

// field starts a length-delimited field of n bytes.
func (w *responseWriter) field(num protowire.Number, n int) {
	w.buf = protowire.AppendTag(w.buf, num, protowire.BytesType)
	w.buf = protowire.AppendVarint(w.buf, uint64(n))
}

// any writes an Any's fields, referencing its value rather than copying it.
func (w *responseWriter) any(a *anypb.Any) {
	if a.GetTypeUrl() != "" {
		w.field(1, len(a.GetTypeUrl()))
		w.buf = append(w.buf, a.GetTypeUrl()...)
	}
	v := a.GetValue()
	if len(v) == 0 {
		return
	}
	w.field(2, len(v))
	if len(v) < inlineValue {
		w.buf = append(w.buf, v...)
		return
	}
	// Shared and never changed once marshalled; SliceBuffer frees nothing.
	w.out = append(w.out, mem.SliceBuffer(w.buf), mem.SliceBuffer(v))
	w.buf = nil
}

func (w *responseWriter) done() mem.BufferSlice {
	if len(w.buf) > 0 {
		w.out = append(w.out, mem.SliceBuffer(w.buf))
	}
	return w.out
}
