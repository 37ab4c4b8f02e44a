package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// envelopeCodec is the raw proxies' gRPC codec: it decodes only a DiscoveryResponse's
// envelope (version, type URL, nonce) and skips its resources, and encodes the long
// list of endpoint names every state-of-the-world ACK repeats once for all proxies, so
// that 2,000 proxies fit beside meshd in one process and the measurement is of meshd,
// not of the test's protobuf work.
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
	resp, ok := v.(*discoveryv3.DiscoveryResponse)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	r := data.Reader()
	defer r.Close()
	for r.Remaining() > 0 {
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
			err = readField(r, protowire.Number(tag>>3), resp)
		default:
			err = fmt.Errorf("unexpected wire type in tag %d", tag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readField reads one length-delimited field, keeping the envelope's strings.
func readField(r *mem.Reader, num protowire.Number, resp *discoveryv3.DiscoveryResponse) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	var keep *string
	switch num {
	case 1:
		keep = &resp.VersionInfo
	case 4:
		keep = &resp.TypeUrl
	case 5:
		keep = &resp.Nonce
	default:
		_, err = r.Discard(int(n))
		return err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	*keep = string(buf)
	return nil
}
