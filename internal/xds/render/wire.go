package render

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Protobuf fields appended to a buffer, for messages meshd writes straight from its IR
// rather than building them as Go messages first (rbac_wire.go says why). Each takes
// the buffer and returns it grown, as protowire's functions do.

// open starts a length-delimited field (a message or a set of them) and returns where
// its content starts, for closeField. One byte is kept for the length, which
// closeField widens when the content needs more: most of these messages are short.
func open(b []byte, n protowire.Number) ([]byte, int) {
	b = appendTag(b, n, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// appendTag is protowire.AppendTag, with the one-byte tags of fields 1 to 15 inline.
func appendTag(b []byte, n protowire.Number, t protowire.Type) []byte {
	if tag := uint64(n)<<3 | uint64(t&7); tag < 0x80 {
		return append(b, byte(tag))
	}
	return protowire.AppendTag(b, n, t)
}

// closeField ends the field open started at mark, writing its length.
func closeField(b []byte, mark int) []byte {
	n := len(b) - mark
	if n < 0x80 {
		b[mark-1] = byte(n)
		return b
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	b = append(b, make([]byte, extra)...)
	copy(b[mark+extra:], b[mark:mark+n])
	protowire.AppendVarint(b[:mark-1], uint64(n))
	return b
}

// appendString writes string field n, the concatenation of parts: written as they
// come rather than joined first.
func appendString(b []byte, n protowire.Number, parts ...string) []byte {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	b = appendTag(b, n, protowire.BytesType)
	if size < 0x80 {
		b = append(b, byte(size))
	} else {
		b = protowire.AppendVarint(b, uint64(size))
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func appendUvarint(b []byte, n protowire.Number, v uint64) []byte {
	b = appendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendTrue(b []byte, n protowire.Number) []byte { return appendUvarint(b, n, 1) }

// fieldOf is the number of m's field name, looked up once at start-up so that the
// writers name fields as the .proto does; it panics on a name m does not have.
func fieldOf(m proto.Message, name string) protowire.Number {
	f := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil {
		panic(fmt.Sprintf("%s has no field %s", m.ProtoReflect().Descriptor().FullName(), name))
	}
	return f.Number()
}
