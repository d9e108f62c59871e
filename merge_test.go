package mesh_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/meshtest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// gcounter is a grow-only counter that two activations can merge: each
// activation counts its own increments in a slot of its own (a key drawn
// when the process is made), the count is the sum of the slots, and Merge
// takes each slot's maximum, a join. An Int64Value increments it, any
// other message reads it; both answer the count.
type gcounter struct {
	self  string
	slots map[string]int64
}

func newGCounter() *gcounter {
	return &gcounter{self: rand.Text(), slots: map[string]int64{}}
}

func (g *gcounter) Handle(_ mesh.Context, msg proto.Message) (proto.Message, error) {
	if _, ok := msg.(*wrapperspb.Int64Value); ok {
		g.slots[g.self]++
	}
	var sum int64
	for _, n := range g.slots {
		sum += n
	}
	return wrapperspb.Int64(sum), nil
}

func (g *gcounter) Snapshot() (proto.Message, uint32, error) {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, n := range g.slots {
		s.Fields[k] = structpb.NewNumberValue(float64(n))
	}
	return s, 1, nil
}

// slotsOf decodes a snapshot.
func slotsOf(state proto.Message, format uint32) (map[string]int64, error) {
	s, ok := state.(*structpb.Struct)
	if !ok || format != 1 {
		return nil, fmt.Errorf("gcounter state %T format %d", state, format)
	}
	out := make(map[string]int64, len(s.GetFields()))
	for k, v := range s.GetFields() {
		out[k] = int64(v.GetNumberValue())
	}
	return out, nil
}

func (g *gcounter) Restore(state proto.Message, format uint32) error {
	slots, err := slotsOf(state, format)
	if err == nil {
		g.slots = slots
	}
	return err
}

// mergingCounter is a gcounter that implements actor.Merger.
type mergingCounter struct{ *gcounter }

func (m mergingCounter) Merge(state proto.Message, format uint32) error {
	slots, err := slotsOf(state, format)
	if err != nil {
		return err
	}
	for k, n := range slots {
		m.slots[k] = max(m.slots[k], n)
	}
	return nil
}

// cutOff partitions far from the other nodes of c, waits until both
// sides see it, and returns a context bounding the rest of the test.
func cutOff(t *testing.T, c *meshtest.Cluster, far *mesh.Node) context.Context {
	t.Helper()
	c.Partition([]string{far.Name()})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	split := time.Now()
	if err := c.WaitPartitioned(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("both sides saw the split after %v", time.Since(split).Round(time.Millisecond))
	return ctx
}

// increment increments counter id from n once; it reports whether the
// call was acknowledged.
func increment(n *mesh.Node, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.Int64(1)})
	return err
}

// handoffs adds up mesh_handoffs_total{result} over nodes.
func handoffs(t *testing.T, result string, nodes ...*mesh.Node) int {
	t.Helper()
	sum := 0.0
	for _, n := range nodes {
		families, err := n.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "mesh_handoffs_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == result {
						sum += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return int(sum)
}

// oneActivationEach waits, up to limit, until no ID is active on two
// nodes, and returns how long that took; it fails t if that does not
// come.
func oneActivationEach(t *testing.T, limit time.Duration, nodes ...*mesh.Node) time.Duration {
	t.Helper()
	start := time.Now()
	var dup string
	waitFor(t, limit, "one activation per ID", func() bool {
		where := map[string]string{}
		for _, n := range nodes {
			for _, a := range n.Activations() {
				if other, ok := where[a.Capability+"/"+a.ID]; ok {
					dup = fmt.Sprintf("%s on %s and %s", a.ID, other, n.Name())
					return false
				}
				where[a.Capability+"/"+a.ID] = n.Name()
			}
		}
		return true
	})
	if t.Failed() {
		t.Logf("last duplicate: %s", dup)
	}
	return time.Since(start)
}

// TestAvailabilityMergesAtTheHeal: with the availability policy, split
// three nodes 2+1 and increment every counter from both sides: both serve.
// At the heal, each ID's two activations become one. A process that
// implements actor.Merger ends with every acknowledged increment of both
// sides (every ID merged once); one that does not keeps one side's count
// and the other side's state is dropped, and counted, once per ID.
func TestAvailabilityMergesAtTheHeal(t *testing.T) {
	const ids, rounds = 100, 3
	for _, merging := range []bool{true, false} {
		t.Run(fmt.Sprintf("merger=%v", merging), func(t *testing.T) {
			caps := mesh.Capability{Name: "counter", New: func(string) mesh.Process {
				if merging {
					return mergingCounter{newGCounter()}
				}
				return newGCounter()
			}}
			c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(caps),
				meshtest.WithConfig(func(cfg *mesh.Config) { cfg.Partition = mesh.PartitionAvailability }))
			nodes := c.Nodes()
			near, far := nodes[0], nodes[2]
			acked := make([]int64, ids)
			incrementAll := func(from *mesh.Node) {
				for i := range ids {
					if err := increment(from, fmt.Sprint("g-", i)); err != nil {
						t.Fatalf("increment g-%d from %s: %v", i, from.Name(), err)
					}
					acked[i]++
				}
			}
			incrementAll(near)

			ctx := cutOff(t, c, far)
			// Each side serves every ID.
			for range rounds {
				incrementAll(near)
				incrementAll(far)
			}

			c.Heal()
			heal := time.Now()
			if err := c.WaitConverged(ctx); err != nil {
				t.Fatal(err)
			}
			converged := time.Since(heal)
			one := oneActivationEach(t, 20*time.Second, nodes...)
			t.Logf("views converged %v after the heal; one activation per ID %v later",
				converged.Round(time.Millisecond), one.Round(time.Millisecond))

			want, result := ids, "merged"
			if !merging {
				result = "conflict"
			}
			// The handoffs of the heal are acknowledged by the time each
			// ID has one activation; their results are counted on
			// arrival, on the activations' goroutines.
			for end := time.Now().Add(10 * time.Second); handoffs(t, result, nodes...) < want && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
			if got := handoffs(t, result, nodes...); got != want {
				t.Errorf("%d handed-off states %s, want %d (one per ID)", got, result, want)
				for _, r := range []string{"sent", "restored", "merged", "conflict", "refused", "stored", "lost", "failed"} {
					t.Logf("%s: %d", r, handoffs(t, r, nodes...))
				}
			}
			for i := range ids {
				got := read(t, near, fmt.Sprint("g-", i))
				switch {
				case merging && got != acked[i]:
					t.Errorf("g-%d counts %d, %d increments acknowledged", i, got, acked[i])
				case !merging && (got >= acked[i] || got < int64(rounds)):
					t.Errorf("g-%d counts %d without Merge, want one side's count (%d acknowledged in all)", i, got, acked[i])
				}
			}
		})
	}
}

// TestMajorityHasOneActivationAfterTheHeal: with the default policy,
// split three nodes 2+1. Once the lone node sees it has lost its
// majority it serves nothing (ErrNoQuorum) and holds no activation, while
// the majority serves every ID; after the heal each ID has one activation
// in the cluster, and every increment acknowledged since the split is
// counted.
func TestMajorityHasOneActivationAfterTheHeal(t *testing.T) {
	const ids, rounds = 100, 3
	caps := mesh.Capability{Name: "counter", New: func(string) mesh.Process { return mergingCounter{newGCounter()} }}
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(caps), meshtest.WithConfig(func(cfg *mesh.Config) { cfg.Logger = testLogger(t) }))
	nodes := c.Nodes()
	near, far := nodes[0], nodes[2]

	ctx := cutOff(t, c, far)
	// The minority serves on for the grace of a lost majority.
	waitFor(t, 5*time.Second, "the minority to stop serving", func() bool {
		return errors.Is(increment(far, "g-0"), mesh.ErrNoQuorum)
	})
	acked := make([]int64, ids)
	refused := 0
	for range rounds {
		for i := range ids {
			id := fmt.Sprint("g-", i)
			if err := increment(near, id); err != nil {
				t.Fatalf("increment %s on the majority: %v", id, err)
			}
			acked[i]++
			if err := increment(far, id); !errors.Is(err, mesh.ErrNoQuorum) {
				t.Fatalf("increment %s on the minority: %v, want ErrNoQuorum", id, err)
			}
			refused++
		}
	}
	if n := len(far.Activations()); n != 0 {
		t.Errorf("the minority holds %d activations", n)
	}
	t.Logf("%d increments refused by the minority", refused)

	c.Heal()
	heal := time.Now()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	converged := time.Since(heal)
	// Reading every counter makes its activation where the view says.
	for i := range ids {
		if got := read(t, far, fmt.Sprint("g-", i)); got != acked[i] {
			t.Errorf("g-%d counts %d, %d increments acknowledged", i, got, acked[i])
		}
	}
	one := oneActivationEach(t, 20*time.Second, nodes...)
	t.Logf("views converged %v after the heal; one activation per ID %v later",
		converged.Round(time.Millisecond), one.Round(time.Millisecond))
}

// TestQuickHealKeepsTheMajorityServing: heal a 2+1 split as soon as both
// sides have seen it. The cut-off node then still gossips the deaths it
// saw, and a node of the majority may take its peer for dead until the
// peer refutes it; the grace of a lost majority keeps that blink from
// stopping the majority's processes, so the IDs the majority held before
// the split keep every increment.
func TestQuickHealKeepsTheMajorityServing(t *testing.T) {
	const ids = 100
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters),
		meshtest.WithConfig(func(cfg *mesh.Config) { cfg.Logger = testLogger(t) }))
	nodes := c.Nodes()
	near, far := nodes[0], nodes[2]
	var kept []string
	for i := range ids {
		id := fmt.Sprint("g-", i)
		if err := increment(near, id); err != nil {
			t.Fatal(err)
		}
		if p, _ := near.Locate("counter", id); p.Owner != far.Name() {
			kept = append(kept, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for range 2 {
		c.Partition([]string{far.Name()})
		if err := c.WaitPartitioned(ctx); err != nil {
			t.Fatal(err)
		}
		c.Heal()
		if err := c.WaitConverged(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range kept {
		if got := read(t, near, id); got != 1 {
			t.Errorf("%s counts %d after the heal, want 1", id, got)
		}
	}
}
