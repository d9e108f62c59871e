package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fragileCounter is a counter that panics on the message "boom".
type fragileCounter struct{ counter }

func (c *fragileCounter) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	if s, ok := msg.(*wrapperspb.StringValue); ok && s.GetValue() == "boom" {
		panic("boom")
	}
	return c.counter.Handle(ctx, msg)
}

func storedCounters(idle time.Duration) mesh.Capability {
	return mesh.Capability{Name: "counter", IdleTimeout: idle, New: func(string) mesh.Process { return &fragileCounter{} }}
}

func withStore(st store.Store) func(*mesh.Config) {
	return func(c *mesh.Config) { c.Store = st }
}

func read(t *testing.T, n *mesh.Node, id string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.String("get")})
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return reply.(*wrapperspb.Int64Value).GetValue()
}

// TestStoreKeepsStateThroughPassivationAndRestart: with a store, a
// passivated process comes back with its state, a process that panics is
// made again from its last save, and a node started after the last one
// closed finds every state.
func TestStoreKeepsStateThroughPassivationAndRestart(t *testing.T) {
	st := store.NewMemory()
	a := startNodeWith(t, "node-1", nil, withStore(st), storedCounters(500*time.Millisecond))
	for i := range 20 {
		for range i + 1 {
			mustIncrement(t, a, fmt.Sprint("t-", i))
		}
	}
	waitFor(t, 10*time.Second, "the counters to passivate", func() bool { return len(a.Activations()) == 0 })
	for i := range 20 {
		if got := read(t, a, fmt.Sprint("t-", i)); got != int64(i+1) {
			t.Fatalf("t-%d counts %d after passivation, want %d", i, got, i+1)
		}
	}
	for _, act := range a.Activations() {
		if act.Origin != "store" {
			t.Fatalf("%s: origin %q after a passivation, want store", act.ID, act.Origin)
		}
	}

	// A panic: made again from the last save (at the passivation), so the
	// increments since are gone, and say so.
	mustIncrement(t, a, "t-0")
	_, err := a.Call(context.Background(), mesh.Request{Capability: "counter", ID: "t-0", Payload: wrapperspb.String("boom")})
	if !errors.Is(err, mesh.ErrProcessFailed) {
		t.Fatalf("boom: %v, want ErrProcessFailed", err)
	}
	if got := read(t, a, "t-0"); got != 1 {
		t.Fatalf("t-0 counts %d after the panic, want 1 (its last save)", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b := startNodeWith(t, "node-2", nil, withStore(st), storedCounters(time.Hour))
	for i := 1; i < 20; i++ {
		if got := read(t, b, fmt.Sprint("t-", i)); got != int64(i+1) {
			t.Fatalf("t-%d counts %d on a new node, want %d", i, got, i+1)
		}
	}
}

// TestInvalidMaxActivations: a negative bound is refused.
func TestInvalidMaxActivations(t *testing.T) {
	n := startNode(t, "node-1", nil)
	err := n.RegisterCapabilities(mesh.Capability{Name: "c", MaxActivations: -1, New: func(string) mesh.Process { return &counter{} }})
	if !errors.Is(err, mesh.ErrInvalidCapability) {
		t.Fatalf("register: %v, want ErrInvalidCapability", err)
	}
}
