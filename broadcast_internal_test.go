package mesh

import (
	"context"
	"strings"
	"testing"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestRouterAnswersCraftedBroadcasts: broadcasts from the network are
// bounded as casts are: a bad capability, a payload over MaxPayload or of
// an unknown type, a passed deadline and a capability the node does not
// offer each get a failure and reach no process, and none activates one.
func TestRouterAnswersCraftedBroadcasts(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	router := pa.NewPID(b.remoteAddr, routerName)
	onB := idOn(t, a, b.name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Call(ctx, Request{Capability: "echo", ID: onB, Payload: wrapperspb.String("wake")}); err != nil {
		t.Fatal(err)
	}
	goodType, good, _ := wire.Pack(wrapperspb.String("hi"))
	bc := func(edit func(*wire.Broadcast)) *wire.Broadcast {
		m := &wire.Broadcast{Capability: "echo", Payload: good, PayloadType: goodType}
		if edit != nil {
			edit(m)
		}
		return m
	}
	for _, tc := range []struct {
		name      string
		msg       *wire.Broadcast
		code      wire.Code
		delivered uint32
	}{
		{"well formed", bc(nil), wire.Code_CODE_UNSPECIFIED, 1},
		{"bad capability", bc(func(m *wire.Broadcast) { m.Capability = "no/such" }), wire.Code_CODE_INVALID_REQUEST, 0},
		{"not offered", bc(func(m *wire.Broadcast) { m.Capability = "other" }), wire.Code_CODE_NO_CAPABILITY, 0},
		{"unknown payload type", bc(func(m *wire.Broadcast) { m.PayloadType = "no.such.Message" }), wire.Code_CODE_BAD_PAYLOAD, 0},
		{"garbage payload", bc(func(m *wire.Broadcast) { m.Payload = []byte{0xff, 0xff, 0xff} }), wire.Code_CODE_BAD_PAYLOAD, 0},
		{"deadline passed", bc(func(m *wire.Broadcast) { m.Deadline = time.Now().Add(-time.Second).UnixNano() }), wire.Code_CODE_DEADLINE, 0},
		{"negative deadline", bc(func(m *wire.Broadcast) { m.Deadline = -1 }), wire.Code_CODE_DEADLINE, 0},
		{"over MaxPayload", bc(func(m *wire.Broadcast) {
			m.PayloadType, m.Payload, _ = wire.Pack(wrapperspb.String(strings.Repeat("x", b.cfg.MaxPayload)))
		}), wire.Code_CODE_PAYLOAD_TOO_LARGE, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack, ok := ask(t, a, router, tc.msg).(*wire.BroadcastAck)
			if !ok || ack.GetFailure().GetCode() != tc.code || ack.GetDelivered() != tc.delivered {
				t.Fatalf("answer %v, want code %v and %d delivered", ack, tc.code, tc.delivered)
			}
		})
	}
	if got := b.table.Len(); got != 1 {
		t.Errorf("%d activations on %s, want 1: a broadcast activated a process", got, b.name)
	}
}
