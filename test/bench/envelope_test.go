package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// envelopeCodec is the raw proxies' gRPC codec: it decodes only a response's envelope
// (version, type URL, nonce, and an incremental response's resource names and versions)
// and skips the resources' bodies, and encodes the long list of endpoint names every
// state-of-the-world ACK repeats once for all proxies, so that 2,000 proxies fit in one
// process on the machine meshd runs on and the measurement is of meshd, not of the
// test's protobuf work.
type envelopeCodec struct {
	encoding.CodecV2
	// names holds encoded resource name lists, by the address of their first element.
	names *sync.Map
}

func newEnvelopeCodec() envelopeCodec {
	return envelopeCodec{encoding.GetCodecV2("proto"), &sync.Map{}}
}

func (c envelopeCodec) Marshal(v any) (mem.BufferSlice, error) {
	req, ok := v.(*discoveryv3.DiscoveryRequest)
	if !ok || len(req.GetResourceNames()) < 16 {
		return c.CodecV2.Marshal(v)
	}
	key := unsafe.SliceData(req.GetResourceNames())
	names, ok := c.names.Load(key)
	if !ok {
		var b []byte
		for _, n := range req.GetResourceNames() {
			b = protowire.AppendTag(b, 3, protowire.BytesType)
			b = protowire.AppendString(b, n)
		}
		names, _ = c.names.LoadOrStore(key, b)
	}
	head, err := proto.Marshal(&discoveryv3.DiscoveryRequest{VersionInfo: req.GetVersionInfo(), Node: req.GetNode(),
		TypeUrl: req.GetTypeUrl(), ResponseNonce: req.GetResponseNonce(), ErrorDetail: req.GetErrorDetail()})
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(append(head, names.([]byte)...))}, nil
}

func (c envelopeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r := data.Reader()
	defer r.Close()
	switch m := v.(type) {
	case *discoveryv3.DiscoveryResponse:
		return skim(r, r.Remaining(), func(num protowire.Number, n int) error {
			return readString(r, n, keep(num, fields{1: &m.VersionInfo, 4: &m.TypeUrl, 5: &m.Nonce}))
		})
	case *discoveryv3.DeltaDiscoveryResponse:
		return skim(r, r.Remaining(), func(num protowire.Number, n int) error {
			// A resource: its name and version, not its body. The proxies read only route
			// versions, and meshd writes the type before the resources: others are
			// skipped whole (half the fleet process's CPU went to reading endpoints').
			if num == 2 && m.TypeUrl != "" && m.TypeUrl != resourcev3.RouteType {
				_, err := r.Discard(n)
				return err
			}
			if num == 2 {
				res := &discoveryv3.Resource{}
				m.Resources = append(m.Resources, res)
				return skim(r, n, func(num protowire.Number, n int) error {
					return readString(r, n, keep(num, fields{1: &res.Version, 3: &res.Name}))
				})
			}
			return readString(r, n, keep(num, fields{1: &m.SystemVersionInfo, 4: &m.TypeUrl, 5: &m.Nonce}))
		})
	}
	return c.CodecV2.Unmarshal(data, v)
}

// skim reads the fields of a message of size bytes from r, handing each
// length-delimited one to field, which must consume exactly its n bytes.
func skim(r *mem.Reader, size int, field func(num protowire.Number, n int) error) error {
	end := r.Remaining() - size
	for r.Remaining() > end {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		switch protowire.Type(tag & 7) {
		case protowire.VarintType:
			_, err = binary.ReadUvarint(r)
		case protowire.Fixed32Type:
			_, err = r.Discard(4)
		case protowire.Fixed64Type:
			_, err = r.Discard(8)
		case protowire.BytesType:
			var n uint64
			if n, err = binary.ReadUvarint(r); err == nil {
				err = field(protowire.Number(tag>>3), int(n))
			}
		default:
			err = fmt.Errorf("unexpected wire type in tag %d", tag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fields are the string fields a skim keeps, by field number (an array: no allocation
// per field of every response).
type fields [6]*string

// keep is where field num is kept, or nil.
func keep(num protowire.Number, f fields) *string {
	if num < protowire.Number(len(f)) {
		return f[num]
	}
	return nil
}

// readString reads n bytes into keep, or discards them when keep is nil.
func readString(r *mem.Reader, n int, keep *string) error {
	if keep == nil {
		_, err := r.Discard(n)
		return err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	*keep = string(buf)
	return nil
}

// dirtyPool is the raw proxies' gRPC buffer pool: it hands buffers out without
// clearing them first, as gRPC's default pool does (every byte is overwritten by what
// is read into it). The fleet process reads 600 MB a write; clearing it first was a
// tenth of that process's CPU, taken from the machine meshd is measured on.
type dirtyPool struct{ classes [25]sync.Pool }

func (p *dirtyPool) class(size int) int { return bits.Len(uint(size - 1)) }

func (p *dirtyPool) Get(length int) *[]byte {
	c := p.class(length)
	if c >= len(p.classes) {
		b := make([]byte, length)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, 1<<c)
	return &b
}

func (p *dirtyPool) Put(b *[]byte) {
	// Only buffers of a class's full size go back, so every Get fits.
	if c := p.class(cap(*b)); c < len(p.classes) && cap(*b) == 1<<c {
		p.classes[c].Put(b)
	}
}
