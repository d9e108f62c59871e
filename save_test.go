package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crash"
	"github.com/meshrun/mesh/internal/crashtest"
	"github.com/meshrun/mesh/store"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestSaveOnChangeKeepsWhatAKillLoses: three nodes share a store while
// a client increments 300 counters; one node is killed (no drain, no
// save) and later started again. Saving on change, no acknowledged
// increment is lost; saving on stop, the killed node's counts are.
func TestSaveOnChangeKeepsWhatAKillLoses(t *testing.T) {
	for _, mode := range []mesh.SaveMode{mesh.SaveOnChange, mesh.SaveOnStop} {
		t.Run(mode.String(), func(t *testing.T) {
			st := store.NewMemory()
			var nodes []*mesh.Node
			var seeds []string
			for i := range 3 {
				n := startNodeWith(t, fmt.Sprint("node-", i+1), seeds, withStore(st), crashtest.Counters(mode))
				nodes = append(nodes, n)
				seeds = append(seeds, n.GossipAddr())
			}
			client := startNode(t, "client", seeds)
			waitOffering(t, client, crashtest.Capability, 3)

			load := crashtest.StartLoad(client, 300, 8)
			for load.Calls() < 3000 {
				time.Sleep(10 * time.Millisecond)
			}
			crash.Node(nodes[1])
			waitOffering(t, client, crashtest.Capability, 2)
			at := load.Calls()
			for load.Calls() < at+3000 {
				time.Sleep(10 * time.Millisecond)
			}
			nodes[1] = startNodeWith(t, "node-2", seeds[:1], withStore(st), crashtest.Counters(mode))
			waitOffering(t, client, crashtest.Capability, 3)
			at = load.Calls()
			for load.Calls() < at+3000 {
				time.Sleep(10 * time.Millisecond)
			}
			res, err := load.Stop(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("saving %s, a kill and a restart: %v", mode, res)
			res.Check(t, mode)
		})
	}
}

// flakyStore is a store that fails every operation while down is set.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

var errDown = errors.New("store down")

func (s *flakyStore) Load(ctx context.Context, k store.Key) (store.Record, error) {
	if s.down.Load() {
		return store.Record{}, errDown
	}
	return s.Store.Load(ctx, k)
}

func (s *flakyStore) Save(ctx context.Context, k store.Key, r store.Record) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Save(ctx, k, r)
}

// TestSaveOnChangeFailsWhileTheStoreIsDown: a change that cannot be
// saved fails its call with ErrStore and is undone; so does every call
// until the store is back, and then the count goes on from the last
// save.
func TestSaveOnChangeFailsWhileTheStoreIsDown(t *testing.T) {
	st := &flakyStore{Store: store.NewMemory()}
	n := startNodeWith(t, "node-1", nil, withStore(st), crashtest.Counters(mesh.SaveOnChange))
	add := func() (int64, error) {
		reply, err := n.Call(context.Background(), mesh.Request{Capability: crashtest.Capability, ID: "x", Payload: wrapperspb.Int64(1)})
		if err != nil {
			return 0, err
		}
		return reply.(*wrapperspb.Int64Value).GetValue(), nil
	}
	for i := range 5 {
		if got, err := add(); err != nil || got != int64(i+1) {
			t.Fatalf("increment %d: %d, %v", i+1, got, err)
		}
	}
	st.down.Store(true)
	for range 3 {
		if got, err := add(); !errors.Is(err, mesh.ErrStore) {
			t.Fatalf("increment with the store down: %d, %v; want ErrStore", got, err)
		}
	}
	st.down.Store(false)
	if got, err := add(); err != nil || got != 6 {
		t.Fatalf("increment after the store is back: %d, %v; want 6", got, err)
	}
	rec, err := st.Load(context.Background(), store.Key{Capability: crashtest.Capability, ID: "x"})
	if err != nil || rec.Version != 6 {
		t.Fatalf("stored: version %d, %v; want version 6", rec.Version, err)
	}
}

// TestStaleActivationSaveRefused: of two activations of one ID on nodes
// that do not see each other, the one that read the older state cannot
// save over the newer (see crashtest.SplitView).
func TestStaleActivationSaveRefused(t *testing.T) {
	st := store.NewMemory()
	crashtest.SplitView(t, func(*testing.T) store.Store { return st })
}

// TestSaveModeNeedsAStore: saving on change without Config.Store, or an
// unknown mode, is refused at registration.
func TestSaveModeNeedsAStore(t *testing.T) {
	n := startNode(t, "node-1", nil)
	if err := n.RegisterCapabilities(crashtest.Counters(mesh.SaveOnChange)); !errors.Is(err, mesh.ErrInvalidCapability) {
		t.Errorf("SaveOnChange without a store: %v, want ErrInvalidCapability", err)
	}
	m := startNodeWith(t, "node-2", nil, withStore(store.NewMemory()))
	if err := m.RegisterCapabilities(crashtest.Counters(mesh.SaveMode(7))); !errors.Is(err, mesh.ErrInvalidCapability) {
		t.Errorf("SaveMode(7): %v, want ErrInvalidCapability", err)
	}
	if s := mesh.SaveMode(7).String(); s != "SaveMode(7)" {
		t.Errorf("SaveMode(7).String() = %q", s)
	}
}

// TestPanicComesBackFromItsState: a process that panics fails its own
// call with ErrProcessFailed while 100 others keep answering, and is made
// again from its last saved state (with a store that saves on change) or
// from the state it was handed off with (without a store).
func TestPanicComesBackFromItsState(t *testing.T) {
	boom := func(n *mesh.Node, id string) {
		t.Helper()
		_, err := n.Call(context.Background(), mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.String("boom")})
		if !errors.Is(err, mesh.ErrProcessFailed) {
			t.Fatalf("boom: %v, want ErrProcessFailed", err)
		}
	}
	others := func(n *mesh.Node, want int64) {
		t.Helper()
		for i := range 100 {
			if got := read(t, n, fmt.Sprint("other-", i)); got != want {
				t.Fatalf("other-%d counts %d after the panic, want %d", i, got, want)
			}
		}
	}

	t.Run("stored", func(t *testing.T) {
		fragile := storedCounters(-1)
		fragile.Save = mesh.SaveOnChange
		n := startNodeWith(t, "node-1", nil, withStore(store.NewMemory()), fragile)
		for i := range 100 {
			mustIncrement(t, n, fmt.Sprint("other-", i))
		}
		for range 7 {
			mustIncrement(t, n, "p")
		}
		boom(n, "p")
		others(n, 1)
		if got := read(t, n, "p"); got != 7 {
			t.Fatalf("p counts %d after its panic, want 7 (its last save)", got)
		}
	})

	t.Run("handed off", func(t *testing.T) {
		fragile := storedCounters(-1)
		a := startNode(t, "node-a", nil, fragile)
		for i := range 100 {
			mustIncrement(t, a, fmt.Sprint("other-", i))
		}
		var id string
		b := startNode(t, "node-b", []string{a.GossipAddr()}, fragile)
		waitConverged(t, a, b)
		// An ID that moved to b, incremented on a before: b holds the
		// state a handed off.
		for i := range 100 {
			if p, err := a.Locate("counter", fmt.Sprint("other-", i)); err == nil && p.Owner == b.Name() {
				id = p.ID
				break
			}
		}
		if id == "" {
			t.Fatal("no ID moved to node-b")
		}
		boom(a, id)
		others(a, 1)
		if got := read(t, a, id); got != 1 {
			t.Fatalf("%s counts %d after its panic on %s, want 1 (its handed-off state)", id, got, b.Name())
		}
	})
}
