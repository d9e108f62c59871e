package wire

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPackUnpackRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"string", wrapperspb.String("hello")},
		{"empty string", wrapperspb.String("")},
		{"int64", wrapperspb.Int64(-1 << 62)},
		{"bytes", wrapperspb.Bytes([]byte{0, 1, 2, 0xff})},
		{"bool", wrapperspb.Bool(true)},
		{"struct", mustStruct(t, map[string]any{
			"name": "counter", "n": 42.0, "tags": []any{"a", "b"},
			"nested": map[string]any{"ok": true, "nothing": nil},
		})},
		{"list value", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(1)}})},
		{"envelope", &Envelope{Capability: "chat", Id: "room-1", Shard: 7, Trace: map[string]string{"traceparent": "00-x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, b, err := Pack(tc.msg)
			if err != nil {
				t.Fatalf("Pack: %v", err)
			}
			if want := string(tc.msg.ProtoReflect().Descriptor().FullName()); typ != want {
				t.Fatalf("type %q, want %q", typ, want)
			}
			// Through the wire as the envelope carries it.
			wire, err := proto.Marshal(&Envelope{Payload: b, PayloadType: typ})
			if err != nil {
				t.Fatal(err)
			}
			var env Envelope
			if err := proto.Unmarshal(wire, &env); err != nil {
				t.Fatal(err)
			}
			got, err := Unpack(env.GetPayloadType(), env.GetPayload())
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if !proto.Equal(got, tc.msg) {
				t.Fatalf("round trip: got %v, want %v", got, tc.msg)
			}
		})
	}
}

func TestPackRejects(t *testing.T) {
	if _, _, err := Pack(nil); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("Pack(nil): %v; want ErrBadPayload", err)
	}
	// proto3 strings must be UTF-8.
	if _, _, err := Pack(wrapperspb.String("\xff")); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("Pack of invalid UTF-8: %v; want ErrBadPayload", err)
	}
}

func TestUnpackRejects(t *testing.T) {
	typ, good, err := Pack(wrapperspb.String("hello"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, typ string
		in        []byte
	}{
		{"no type", "", good},
		{"unknown type", "nope.Missing", good},
		{"unknown type, no value", "nope.Missing", nil},
		{"type URL instead of name", "type.googleapis.com/" + typ, good},
		{"garbage for known type", typ, []byte{0xff, 0xff, 0xff}},
		{"truncated for known type", typ, good[:len(good)-1]},
		{"invalid UTF-8 string", typ, []byte{0x0a, 0x02, 0xc3, 0x28}},
		{"truncated fixed32", typ, []byte{0x0d, 1, 2}},
		{"garbage struct", "google.protobuf.Struct", []byte{0x0a, 0x7f, 0x00}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Unpack(tc.typ, tc.in)
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("Unpack = %v, %v; want ErrBadPayload", m, err)
			}
			if m != nil {
				t.Fatalf("Unpack returned %v along with its error", m)
			}
		})
	}
}

func FuzzUnpack(f *testing.F) {
	for _, m := range []proto.Message{
		wrapperspb.String("hello"),
		wrapperspb.Int64(42),
		mustStruct(f, map[string]any{"a": 1.0, "b": []any{"x", true}}),
		&Envelope{Capability: "chat", Id: "1", PayloadType: "nope.Missing", Payload: []byte{1}},
		&Reply{Failure: &Failure{Code: Code_CODE_BAD_PAYLOAD, Message: "x"}},
	} {
		typ, b, err := Pack(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(typ, b)
	}
	f.Add("nope.Missing", []byte{0x0a, 0x01, 'x'})
	f.Add("", []byte(nil))
	f.Add("google.protobuf.Any", []byte{0x0a, 0x01, 'x', 0x12, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, typ string, value []byte) {
		m, err := Unpack(typ, value)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		if got := m.ProtoReflect().Descriptor().FullName(); got != protoreflect.FullName(typ) {
			t.Fatalf("unpacked a %s for type %q", got, typ)
		}
		// What was accepted can be sent on.
		if _, _, err := Pack(m); err != nil {
			t.Fatalf("Pack of an unpacked message: %v", err)
		}
	})
}

// TestUnpackRemembersOnlyLinkedTypes: a type Unpack found is remembered,
// and a name no linked type has is not, however many arrive.
func TestUnpackRemembersOnlyLinkedTypes(t *testing.T) {
	typ, b, err := Pack(wrapperspb.Int32(7))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if m, err := Unpack(typ, b); err != nil || m.(*wrapperspb.Int32Value).GetValue() != 7 {
			t.Fatalf("Unpack = %v, %v", m, err)
		}
	}
	if _, ok := (*found.Load())[protoreflect.FullName(typ)]; !ok {
		t.Fatalf("%s is not remembered", typ)
	}
	before := len(*found.Load())
	for i := range 100 {
		if _, err := Unpack(fmt.Sprint("no.such.Type", i), b); !errors.Is(err, ErrBadPayload) {
			t.Fatalf("an unknown type gave %v, want ErrBadPayload", err)
		}
	}
	if after := len(*found.Load()); after != before {
		t.Fatalf("unknown names grew the remembered types from %d to %d", before, after)
	}
}
