package cluster

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
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
			a, err := Pack(tc.msg)
			if err != nil {
				t.Fatalf("Pack: %v", err)
			}
			wantURL := "type.googleapis.com/" + string(tc.msg.ProtoReflect().Descriptor().FullName())
			if a.GetTypeUrl() != wantURL {
				t.Fatalf("type URL %q, want %q", a.GetTypeUrl(), wantURL)
			}
			// Through the wire as the envelope carries it.
			wire, err := proto.Marshal(&Envelope{Payload: a})
			if err != nil {
				t.Fatal(err)
			}
			var env Envelope
			if err := proto.Unmarshal(wire, &env); err != nil {
				t.Fatal(err)
			}
			got, err := Unpack(env.GetPayload())
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if !proto.Equal(got, tc.msg) {
				t.Fatalf("round trip: got %v, want %v", got, tc.msg)
			}
		})
	}
}

func TestPackNil(t *testing.T) {
	if a, err := Pack(nil); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("Pack(nil) = %v, %v; want ErrBadPayload", a, err)
	}
}

func TestUnpackRejects(t *testing.T) {
	good, err := Pack(wrapperspb.String("hello"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   *anypb.Any
	}{
		{"nil", nil},
		{"empty any", &anypb.Any{}},
		{"unknown type", &anypb.Any{TypeUrl: "type.googleapis.com/nope.Missing", Value: good.Value}},
		{"unknown type, no value", &anypb.Any{TypeUrl: "type.googleapis.com/nope.Missing"}},
		{"no slash", &anypb.Any{TypeUrl: "google.protobuf.StringValue2", Value: good.Value}},
		{"garbage for known type", &anypb.Any{TypeUrl: good.TypeUrl, Value: []byte{0xff, 0xff, 0xff}}},
		{"truncated for known type", &anypb.Any{TypeUrl: good.TypeUrl, Value: good.Value[:len(good.Value)-1]}},
		{"invalid UTF-8 string", &anypb.Any{TypeUrl: good.TypeUrl, Value: []byte{0x0a, 0x02, 0xc3, 0x28}}},
		{"truncated fixed32", &anypb.Any{TypeUrl: good.TypeUrl, Value: []byte{0x0d, 1, 2}}},
		{"garbage struct", &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Struct", Value: []byte{0x0a, 0x7f, 0x00}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Unpack(tc.in)
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
		&Envelope{Capability: "chat", Id: "1", Payload: &anypb.Any{TypeUrl: "type.googleapis.com/nope.Missing", Value: []byte{1}}},
		&Reply{Failure: &Failure{Code: Code_CODE_BAD_PAYLOAD, Message: "x"}},
	} {
		a, err := Pack(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a.TypeUrl, a.Value)
	}
	f.Add("type.googleapis.com/nope.Missing", []byte{0x0a, 0x01, 'x'})
	f.Add("", []byte(nil))
	f.Add("type.googleapis.com/google.protobuf.Any", []byte{0x0a, 0x01, 'x', 0x12, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, typeURL string, value []byte) {
		m, err := Unpack(&anypb.Any{TypeUrl: typeURL, Value: value})
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("Unpack error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		if m == nil {
			t.Fatal("Unpack returned neither message nor error")
		}
		// The message is of the type the URL names.
		name := typeURL[strings.LastIndexByte(typeURL, '/')+1:]
		if got := m.ProtoReflect().Descriptor().FullName(); got != protoreflect.FullName(name) {
			t.Fatalf("type URL %q gave a %s", typeURL, got)
		}
		// What was accepted can be sent on.
		a, err := Pack(m)
		if err != nil {
			t.Fatalf("Pack of an unpacked message: %v", err)
		}
		if _, err := Unpack(a); err != nil {
			t.Fatalf("Unpack(Pack(Unpack(x))): %v", err)
		}
	})
}
