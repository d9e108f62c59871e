package mesh_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
)

// keeper is a process that records why it stopped, after taking a while
// to stop as a process handing its state over would.
type keeper struct {
	node  string
	stops *stopLog
}

func (k *keeper) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	return wrapString(k.node + "/" + ctx.ID()), nil
}

func (k *keeper) Stop(ctx mesh.Context, reason mesh.StopReason, newOwner string) {
	time.Sleep(time.Second)
	k.stops.add(fmt.Sprintf("%s %s %s -> %q", k.node, ctx.ID(), reason, newOwner))
}

type stopLog struct {
	mu    sync.Mutex // guards lines
	lines map[string]bool
}

func (l *stopLog) add(s string) {
	l.mu.Lock()
	l.lines[s] = true
	l.mu.Unlock()
}

func (l *stopLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[s]
}

// TestStopperHearsWhy: a process implementing actor.Stopper is told why its
// activation stops and, when its shard moved, which node owns it now: the
// hook for handing state over. Stopping completes: UnregisterCapabilities
// and Close return only once the Stops they caused have run.
func TestStopperHearsWhy(t *testing.T) {
	stops := &stopLog{lines: map[string]bool{}}
	capOn := func(node string) mesh.Capability {
		return mesh.Capability{Name: "keeper", New: func(string) mesh.Process { return &keeper{node: node, stops: stops} }}
	}
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	if err := a.RegisterCapabilities(capOn(a.Name())); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, nodes...)
	for i := range 50 {
		mustCallCap(b, "keeper", fmt.Sprint("k-", i))
	}

	// b starts offering keeper: about half the shards move from a to b.
	if err := b.RegisterCapabilities(capOn(b.Name())); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, nodes...)
	moved := idOwnedBy(t, a, "keeper", b.Name())
	for i := range 50 {
		id := fmt.Sprint("k-", i)
		if p, _ := a.Locate("keeper", id); p.Owner == b.Name() {
			moved = id
			break
		}
	}
	waitFor(t, 5*time.Second, "the moved process to hear it moved to b", func() bool {
		return stops.has(fmt.Sprintf("node-1 %s moved -> %q", moved, b.Name()))
	})

	// a withdraws keeper: its remaining processes hear why.
	stayed := idOwnedBy(t, b, "keeper", a.Name())
	mustCallCap(b, "keeper", stayed)
	if err := a.UnregisterCapabilities("keeper"); err != nil {
		t.Fatal(err)
	}
	if !stops.has(fmt.Sprintf("node-1 %s unregistered -> %q", stayed, b.Name())) {
		t.Fatal("UnregisterCapabilities returned before the process's Stop ran")
	}

	// b closes: its processes hear the node is going, and that no node
	// offers keeper any more.
	onB := "k-on-b"
	mustCallCap(a, "keeper", onB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !stops.has(fmt.Sprintf("node-2 %s closing -> %q", onB, "")) {
		t.Fatal("Close returned before the process's Stop ran")
	}
}
