package queue

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fillAll sets every field of m to a value other than its zero: scalars to
// 1 (or "x", true, the second enum value), messages to an empty one, lists
// and maps to one such element.
func fillAll(t *testing.T, m protoreflect.Message) {
	t.Helper()
	scalar := func(fd protoreflect.FieldDescriptor) protoreflect.Value {
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(true)
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(fd.Enum().Values().Get(1).Number())
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
		case protoreflect.StringKind:
			return protoreflect.ValueOfString("x")
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes([]byte("x"))
		}
		t.Fatalf("field %s: kind %v", fd.FullName(), fd.Kind())
		return protoreflect.Value{}
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Message() != nil {
				l.Append(l.NewElement())
			} else {
				l.Append(scalar(fd))
			}
		case fd.IsMap():
			t.Fatalf("field %s: maps are not filled", fd.FullName())
		case fd.Message() != nil:
			m.Mutable(fd)
		default:
			m.Set(fd, scalar(fd))
		}
	}
}

func TestWithReason(t *testing.T) {
	j := &gpuqv1.Job{}
	fillAll(t, j.ProtoReflect())
	// A field of a newer gpuqd's records: 999, varint 1.
	j.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1))
	got := withReason(j, j.Reason, j.Priority)
	if !proto.Equal(got, j) {
		t.Fatalf("withReason does not copy every field of Job (a field added to the message?):\ngot  %v\nwant %v", got, j)
	}
	if got.Spec != j.Spec || got.SubmitTime != j.SubmitTime || &got.Decisions[0] != &j.Decisions[0] {
		t.Error("withReason copied messages it should share")
	}
	x := withReason(j, "Priority", 2.5)
	if x.Reason != "Priority" || x.Priority != 2.5 || j.Reason != "x" || j.Priority != 1 {
		t.Errorf("withReason: copy %q %v, original %q %v", x.Reason, x.Priority, j.Reason, j.Priority)
	}
}
