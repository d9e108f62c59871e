package mesh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestChunkStates: a handoff of many small states, or of large ones, goes
// in chunks that fit the bound, in order, none lost; a state larger than
// the bound goes alone.
func TestChunkStates(t *testing.T) {
	small := func(n int) []*wire.State {
		out := make([]*wire.State, n)
		for i := range out {
			out[i] = &wire.State{Id: fmt.Sprint("counter-", i), Shard: uint32(i), Type: "google.protobuf.Int64Value", Data: []byte{8, 1}, Version: 7}
		}
		return out
	}
	big := []*wire.State{{Id: "a", Data: make([]byte, 600<<10)}, {Id: "b", Data: make([]byte, 600<<10)}, {Id: "c", Data: make([]byte, 3<<20)}, {Id: "d"}}
	for _, tt := range []struct {
		name   string
		states []*wire.State
		chunks int
	}{
		{"none", nil, 1},
		{"one", small(1), 1},
		{"many small", small(100_000), 25},
		{"large", big, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			chunks := chunkStates(tt.states)
			if len(chunks) != tt.chunks {
				t.Fatalf("%d chunks, want %d", len(chunks), tt.chunks)
			}
			i := 0
			for _, c := range chunks {
				size := proto.Size(&wire.Handoff{From: "node-1", Capability: "counter", States: c, Done: true})
				if len(c) > handoffStates || (len(c) > 1 && size > handoffChunk+1024) {
					t.Fatalf("a chunk of %d states, %d bytes", len(c), size)
				}
				for _, st := range c {
					if st != tt.states[i] {
						t.Fatalf("state %d out of order or lost", i)
					}
					i++
				}
			}
			if i != len(tt.states) {
				t.Fatalf("%d of %d states in the chunks", i, len(tt.states))
			}
		})
	}
}

// TestHandoffFromANonOwnerIsRefused: a node that owns neither the shard nor
// is its owner in this node's view cannot plant a state nor end a wait;
// neither can one of a capability the node does not host.
func TestHandoffFromANonOwnerIsRefused(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.NodeName = "node-1"
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	if err := n.RegisterCapabilities(Capability{Name: "c", New: func(string) Process {
		return ProcessFunc(func(Context, proto.Message) (proto.Message, error) { return &emptypb.Empty{}, nil })
	}}); err != nil {
		t.Fatal(err)
	}
	typ, data, _ := wire.Pack(&emptypb.Empty{})
	st := &wire.State{Id: "victim", Shard: shard.Of("victim", n.cfg.Shards), Type: typ, Data: data}
	// node-1 alone owns every shard: a state from "mallory" for one it
	// owns is its own to take (it saw the change first)...
	ack := n.receiveHandoff(&wire.Handoff{From: "mallory", Capability: "c", States: []*wire.State{st}})
	if ack.GetRestored() != 1 {
		t.Fatalf("ack %v, want the state taken", ack)
	}
	// ...but none for a capability the node does not host, and nothing
	// makes a map for it.
	ack = n.receiveHandoff(&wire.Handoff{From: "mallory", Capability: "other", States: []*wire.State{st}})
	if ack.GetRefused() != 1 || len(ack.GetRefusedIds()) != 1 || ack.GetRefusedIds()[0] != "victim" {
		t.Fatalf("ack %v, want the state refused", ack)
	}
	if held := n.table.Held(); len(held["other"]) != 0 {
		t.Fatalf("an unhosted capability got activations: %v", held)
	}
}

// convergedPair starts node-1 and node-2, offering a capability "c" that
// answers Empty, and returns once they route by the same placement.
func convergedPair(t *testing.T) (a, b *Node) {
	t.Helper()
	start := func(name string, seeds []string) *Node {
		cfg := DefaultLocalConfig()
		cfg.NodeName, cfg.Seeds = name, seeds
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		if err := n.RegisterCapabilities(Capability{Name: "c", New: func(string) Process {
			return ProcessFunc(func(Context, proto.Message) (proto.Message, error) { return &emptypb.Empty{}, nil })
		}}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a = start("node-1", nil)
	b = start("node-2", []string{a.GossipAddr()})
	deadline := time.Now().Add(15 * time.Second)
	for len(a.Members()) != 2 || len(b.Members()) != 2 || a.RoutingVersion() != b.RoutingVersion() {
		if time.Now().After(deadline) {
			t.Fatal("the nodes did not converge")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, b
}

// handoffToOwner is a handoff from a to b, done, of one state of an ID of
// capability c that b owns.
func handoffToOwner(a, b *Node) *wire.Handoff {
	var id string
	for i := range 1000 {
		if p, _ := b.Locate("c", fmt.Sprint("x-", i)); p.Owner == b.Name() {
			id = p.ID
			break
		}
	}
	typ, data, _ := wire.Pack(&emptypb.Empty{})
	st := &wire.State{Id: id, Shard: shard.Of(id, b.cfg.Shards), Type: typ, Data: data}
	return &wire.Handoff{From: a.Name(), Capability: "c", States: []*wire.State{st}, Done: true}
}

// TestHandoffToANodeNotServingIsSentAgain: a new owner that does not
// serve (it sees no majority yet, as at a heal whose gossip reaches it a
// moment after the sender) refuses a handoff saying so; the sender sends
// it again until the node serves, or gives up when its bound ends.
func TestHandoffToANodeNotServingIsSentAgain(t *testing.T) {
	a, b := convergedPair(t)
	handoff := func() *wire.Handoff { return handoffToOwner(a, b) }

	b.noQuorum.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	ack, err := a.askHandoffServed(ctx, b.Name(), handoff())
	cancel()
	if err != nil || !ack.GetNotServing() || ack.GetRefused() != 1 {
		t.Fatalf("to a node that never serves: %v, %v; want the state refused, not serving", ack, err)
	}

	const pause = 300 * time.Millisecond
	time.AfterFunc(pause, func() { b.noQuorum.Store(false) })
	began := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err = a.askHandoffServed(ctx, b.Name(), handoff())
	if err != nil || ack.GetNotServing() || ack.GetRestored() != 1 {
		t.Fatalf("to a node that serves again: %v, %v; want the state restored", ack, err)
	}
	if took := time.Since(began); took < pause {
		t.Errorf("restored after %v, before the node served again", took)
	}
}

// TestRefusedStatesGoToTheOwnerOfNow: states that the node a handoff
// tried did not take go to the owner of their shard in the sender's view
// now: another node, or the sender itself, which takes them back. Those
// whose owner is still the node tried stay undelivered.
func TestRefusedStatesGoToTheOwnerOfNow(t *testing.T) {
	a, b := convergedPair(t)
	typ, data, _ := wire.Pack(&emptypb.Empty{})
	owned := map[string]string{} // owner → an ID it owns
	for i := 0; len(owned) < 2 && i < 1000; i++ {
		id := fmt.Sprint("x-", i)
		p, _ := a.Locate("c", id)
		if _, ok := owned[p.Owner]; !ok {
			owned[p.Owner] = id
		}
	}
	st := func(id string) *wire.State {
		return &wire.State{Id: id, Shard: shard.Of(id, a.cfg.Shards), Type: typ, Data: data}
	}
	toB, toA := owned[b.Name()], owned[a.Name()]
	// Tried at a node that is gone: b's goes to b, a's back to a.
	left, delivered := a.redeliver(context.Background(), "c", "node-9", []*wire.State{st(toB), st(toA)})
	if len(left) != 0 || delivered != 2 {
		t.Fatalf("%d states left, %d delivered; want none left", len(left), delivered)
	}
	if !hostsID(b, toB) || !hostsID(a, toA) {
		t.Fatalf("%s not on %s or %s not on %s", toB, b.Name(), toA, a.Name())
	}
	// Tried at its owner of now: nothing changes, and it stays.
	began := time.Now()
	left, delivered = a.redeliver(context.Background(), "c", b.Name(), []*wire.State{st(toB)})
	if len(left) != 1 || delivered != 0 {
		t.Fatalf("%d states left, %d delivered; want the state left", len(left), delivered)
	}
	if took := time.Since(began); took < redeliverWait {
		t.Errorf("gave up after %v, before redeliverWait", took)
	}
}

func hostsID(n *Node, id string) bool {
	for _, act := range n.Activations() {
		if act.ID == id {
			return true
		}
	}
	return false
}

// TestUndeliveredHandoffIsSentAgain: a handoff that comes back as a dead
// letter (the sender's transport could not deliver it, as while its
// connection to a node that has just healed still fails) is sent again
// within its bound, and the state arrives once it can.
func TestUndeliveredHandoffIsSentAgain(t *testing.T) {
	a, b := convergedPair(t)
	h := handoffToOwner(a, b)

	// For a while a's view sends b's router messages to a process b does
	// not have: each comes back as a dead letter.
	a.routesMu.Lock()
	good := a.routes.Load()
	bad := *good
	bad.routers = maps.Clone(good.routers)
	bad.routers[b.Name()] = pa.NewPID(b.remoteAddr, "no-such-process")
	a.routes.Store(&bad)
	a.routesMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := a.askHandoffServed(ctx, b.Name(), h)
	cancel()
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("a handoff that never arrives: %v, want ErrUnreachable", err)
	}

	const pause = 300 * time.Millisecond
	time.AfterFunc(pause, func() {
		a.routesMu.Lock()
		defer a.routesMu.Unlock()
		if a.routes.Load() == &bad {
			a.routes.Store(good)
		}
	})
	began := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := a.askHandoffServed(ctx, b.Name(), h)
	if err != nil || ack.GetRestored() != 1 {
		t.Fatalf("once it can arrive: %v, %v; want the state restored", ack, err)
	}
	if took := time.Since(began); took < pause {
		t.Errorf("restored after %v, before it could arrive", took)
	}
}
