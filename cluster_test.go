package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// TestActivationOnce: a thousand concurrent first calls to one new ID, from
// every node, make one activation, and every caller gets its reply.
func TestActivationOnce(t *testing.T) {
	var activations atomic.Int64
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(counted(echo(n.Name()), &activations)); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	const callers = 1000
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	var maxSeen atomic.Int64
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			reply, err := nodes[i%len(nodes)].Call(ctx, mesh.Request{Capability: "echo", ID: "brand-new", Payload: wrapString("hi")})
			if err != nil {
				errs <- err
				return
			}
			var node, id string
			var n int64
			if _, err := fmt.Sscanf(replaceSlashes(stringOf(reply)), "%s %s %d", &node, &id, &n); err != nil {
				errs <- fmt.Errorf("reply %q: %v", stringOf(reply), err)
				return
			}
			for {
				m := maxSeen.Load()
				if n <= m || maxSeen.CompareAndSwap(m, n) {
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call failed: %v", err)
	}
	if got := activations.Load(); got != 1 {
		t.Fatalf("%d activations of one ID, want 1", got)
	}
	if got := maxSeen.Load(); got != callers {
		t.Fatalf("the process handled %d messages, want %d", got, callers)
	}
}

// TestPlacementAgreement: once converged, every node names the same owner
// for every ID, and a capability offered by one node is placed only there.
func TestPlacementAgreement(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) {
			nodes := startCluster(t, size)
			for _, n := range nodes {
				caps := []mesh.Capability{echo(n.Name())}
				if n == nodes[1] {
					caps = append(caps, mesh.Capability{Name: "solo", New: echo(n.Name()).New})
				}
				if err := n.RegisterCapabilities(caps...); err != nil {
					t.Fatal(err)
				}
			}
			waitConverged(t, nodes...)
			owners := map[string]int{}
			for i := range 10000 {
				id := fmt.Sprintf("actor_%d", i)
				first, err := nodes[0].Locate("echo", id)
				if err != nil {
					t.Fatal(err)
				}
				owners[first.Owner]++
				for _, n := range nodes[1:] {
					p, err := n.Locate("echo", id)
					if err != nil || p.Owner != first.Owner || p.Shard != first.Shard {
						t.Fatalf("%s: %s says %+v (%v), %s says %+v", id, nodes[0].Name(), first, err, n.Name(), p)
					}
				}
				for _, n := range nodes {
					if p, err := n.Locate("solo", id); err != nil || p.Owner != nodes[1].Name() {
						t.Fatalf("solo/%s placed on %q by %s (%v), want %s", id, p.Owner, n.Name(), err, nodes[1].Name())
					}
				}
			}
			if len(owners) != size {
				t.Fatalf("10,000 IDs landed on %d of %d nodes: %v", len(owners), size, owners)
			}
			t.Logf("10,000 IDs over %d nodes: %v", size, owners)
			for i := range 20 {
				id := fmt.Sprint("solo-call-", i)
				if got := servedBy(mustCallCap(nodes[i%size], "solo", id)); got != nodes[1].Name() {
					t.Fatalf("solo/%s served by %q", id, got)
				}
			}
		})
	}
}

// TestJoinMovesAQuarter: a 4th node joining 3 takes about a quarter of the
// shards; the moved activations stop on their old nodes and the next call
// activates them on the new one.
func TestJoinMovesAQuarter(t *testing.T) {
	var activations atomic.Int64
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(counted(echo(n.Name()), &activations)); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	const ids = 10000
	before := make([]string, ids)
	for i := range ids {
		p, _ := nodes[0].Locate("echo", fmt.Sprint("actor_", i))
		before[i] = p.Owner
	}
	// Activate 500 IDs from node-1.
	for i := range 500 {
		mustCallCap(nodes[0], "echo", fmt.Sprint("actor_", i))
	}

	joiner := startNode(t, "node-4", []string{nodes[0].GossipAddr()}, echo("node-4"))
	all := append(nodes[:3:3], joiner)
	waitConverged(t, all...)
	moved, toJoiner := 0, 0
	for i := range ids {
		p, _ := nodes[0].Locate("echo", fmt.Sprint("actor_", i))
		if p.Owner != before[i] {
			moved++
			if p.Owner == joiner.Name() {
				toJoiner++
			}
		}
	}
	share := float64(moved) / ids
	t.Logf("join of a 4th node moved %.3f of 10,000 IDs (%d to the new node); ideal 1/4 = 0.250; modulo placement would move 3/4", share, toJoiner)
	if share > 1.5/4 || share < 0.5/4 {
		t.Fatalf("moved share %.3f, want about 1/4 and at most %.3f", share, 1.5/4)
	}

	// The activations of moved IDs stop on their old owners.
	waitFor(t, 5*time.Second, "moved activations to stop on their old nodes", func() bool {
		for _, n := range nodes {
			for _, a := range n.Activations() {
				if p, _ := n.Locate(a.Capability, a.ID); p.Owner != n.Name() {
					return false
				}
			}
		}
		return true
	})
	// And the next call activates them on the new owner, afresh.
	checked := 0
	for i := range 500 {
		id := fmt.Sprint("actor_", i)
		p, _ := nodes[0].Locate("echo", id)
		if p.Owner != joiner.Name() {
			continue
		}
		reply := stringOf(mustCallCap(nodes[0], "echo", id))
		if want := fmt.Sprintf("node-4/%s/1: x", id); reply != want {
			t.Fatalf("moved ID answered %q, want %q", reply, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no activated ID moved to the new node")
	}
}

// TestGracefulLeaveLosesNoCall: with calls running over 1,000 IDs, closing
// one of three nodes fails no call, and its IDs answer from the others.
func TestGracefulLeaveLosesNoCall(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(echo(n.Name())); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	leaving, callers := nodes[2], nodes[:2]
	var heldByLeaver []string
	for i := range 1000 {
		id := fmt.Sprint("actor_", i)
		if p, _ := nodes[0].Locate("echo", id); p.Owner == leaving.Name() {
			heldByLeaver = append(heldByLeaver, id)
		}
	}

	stop := make(chan struct{})
	var calls, failed atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i = (i + 8) % 1000 {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := callers[w%2].Call(ctx, mesh.Request{Capability: "echo", ID: fmt.Sprint("actor_", i), Payload: wrapString("x")})
				cancel()
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // calls warm up, PIDs get cached
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	start := time.Now()
	if err := leaving.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	cancel()
	closeTook := time.Since(start)
	waitConverged(t, callers...)
	time.Sleep(500 * time.Millisecond) // calls go on against the new placement
	close(stop)
	wg.Wait()
	t.Logf("%d calls while %s left (Close took %v): %d failed", calls.Load(), leaving.Name(), closeTook.Round(time.Millisecond), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed during a graceful leave; first: %v", failed.Load(), firstErr.Load())
	}
	for _, id := range heldByLeaver {
		if got := servedBy(mustCallCap(callers[0], "echo", id)); got == leaving.Name() || got == "error" {
			t.Fatalf("%s served by %q after its node left", id, got)
		}
	}
}

// TestRegistrationChanges: registering more adds to what a node offers,
// others see it within a second, and withdrawing stops its activations.
func TestRegistrationChanges(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	if err := a.RegisterCapabilities(echo(a.Name())); err != nil {
		t.Fatal(err)
	}
	other := mesh.Capability{Name: "other", New: echo(a.Name()).New}
	if err := a.RegisterCapabilities(other); err != nil {
		t.Fatal(err)
	}
	seenBy := func(n *mesh.Node, want ...string) func() bool {
		return func() bool {
			for _, m := range n.Members() {
				if m.Name == a.Name() {
					return fmt.Sprint(m.Capabilities) == fmt.Sprint(want)
				}
			}
			return false
		}
	}
	waitFor(t, time.Second, "b to see both capabilities of a", seenBy(b, "echo", "other"))
	if got := fmt.Sprint(a.Capabilities()); got != "[echo other]" {
		t.Fatalf("a offers %s", got)
	}

	for _, tc := range []struct {
		name string
		caps []mesh.Capability
		want error
	}{
		{"duplicate", []mesh.Capability{echo("a")}, mesh.ErrDuplicateCapability},
		{"twice in one call", []mesh.Capability{{Name: "x", New: other.New}, {Name: "x", New: other.New}}, mesh.ErrDuplicateCapability},
		{"bad name", []mesh.Capability{{Name: "no spaces", New: other.New}}, mesh.ErrInvalidCapability},
		{"no factory", []mesh.Capability{{Name: "nofactory"}}, mesh.ErrInvalidCapability},
		{"too large for gossip", manyCapabilities(40), mesh.ErrMetaTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := a.RegisterCapabilities(tc.caps...); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if got := fmt.Sprint(a.Capabilities()); got != "[echo other]" {
				t.Fatalf("after a refused registration a offers %s", got)
			}
		})
	}

	// b calls "other" on a, then a withdraws it.
	if got := servedBy(mustCallCap(b, "other", "o-1")); got != a.Name() {
		t.Fatalf("other/o-1 served by %q", got)
	}
	if err := a.UnregisterCapabilities("other"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "b to see a withdraw other", seenBy(b, "echo"))
	waitFor(t, time.Second, "a to stop the activation of other", func() bool {
		for _, act := range a.Activations() {
			if act.Capability == "other" {
				return false
			}
		}
		return true
	})
	waitFor(t, time.Second, "b to route other nowhere", func() bool {
		_, err := b.Call(context.Background(), mesh.Request{Capability: "other", ID: "o-1", Payload: wrapString("x")})
		return errors.Is(err, mesh.ErrNoNode)
	})
}

func manyCapabilities(n int) []mesh.Capability {
	var caps []mesh.Capability
	for i := range n {
		caps = append(caps, mesh.Capability{Name: fmt.Sprintf("capability-with-a-long-name-%03d", i), New: echo("x").New})
	}
	return caps
}
