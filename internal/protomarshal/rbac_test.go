package protomarshal

import (
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	rbacnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestRBACCopiesEveryField: with every field of each RBAC message set, what Marshal
// writes decodes to the message. It fails when go-control-plane adds a field the
// copies in rbac.go do not carry.
func TestRBACCopiesEveryField(t *testing.T) {
	for _, m := range []proto.Message{&rbacv3.RBAC{}, &rbachttpv3.RBAC{}, &rbacnetworkv3.RBAC{}} {
		setEveryField(m.ProtoReflect())
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().Type().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, m) {
			t.Errorf("%T: what Marshal wrote decodes to another message (%v):\n got %v\nwant %v", m, err, back, m)
		}
	}
}

// setEveryField sets each field of m, and of the messages in its fields, to something
// other than its default, outside oneofs (where one field is set) and down to a depth
// that reaches every field rbac.go copies.
func setEveryField(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() && m.WhichOneof(o) != nil {
			continue
		}
		switch {
		case f.IsMap():
			mp := m.Mutable(f).Map()
			var v protoreflect.Value
			if f.MapValue().Message() != nil {
				v = mp.NewValue()
			} else {
				v = scalar(f.MapValue())
			}
			mp.Set(protoreflect.ValueOfString("k").MapKey(), v)
		case f.IsList():
			l := m.Mutable(f).List()
			if f.Message() != nil {
				l.Append(l.NewElement())
			} else {
				l.Append(scalar(f))
			}
		case f.Message() != nil:
			m.Set(f, protoreflect.ValueOfMessage(m.NewField(f).Message()))
		default:
			m.Set(f, scalar(f))
		}
	}
}

func scalar(f protoreflect.FieldDescriptor) protoreflect.Value {
	switch f.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("x"))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(1)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(1)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(1)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1)
	}
	panic("unhandled kind " + f.Kind().String())
}
