package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crash"
)

// TestKill: a killed node tells no one; its peers keep it until failure
// detection drops it, then serve its IDs themselves. Calls on it fail with
// ErrClosed, a later Close does nothing, and its goroutines end (TestMain's
// leak check).
func TestKill(t *testing.T) {
	var nodes []*mesh.Node
	var seeds []string
	for i := range 3 {
		name := fmt.Sprint("node-", i+1)
		n := startNode(t, name, seeds, echo(name))
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	waitConverged(t, nodes...)
	a, victim := nodes[0], nodes[2]
	id := ""
	for i := 0; id == ""; i++ {
		if p, err := a.Locate("echo", fmt.Sprint("k-", i)); err == nil && p.Owner == victim.Name() {
			id = p.ID
		}
	}
	if got := servedBy(mustCall(a, id)); got != victim.Name() {
		t.Fatalf("%s served by %s, want %s", id, got, victim.Name())
	}

	begin := time.Now()
	crash.Node(victim)
	// A Close would have told the others within milliseconds.
	time.Sleep(300 * time.Millisecond)
	if !slices.ContainsFunc(a.Members(), func(m mesh.Member) bool { return m.Name == victim.Name() }) {
		t.Fatalf("%s dropped %s at once: the kill told the cluster", a.Name(), victim.Name())
	}
	if _, err := victim.Call(context.Background(), mesh.Request{Capability: "echo", ID: id, Payload: wrapString("x")}); !errors.Is(err, mesh.ErrClosed) {
		t.Errorf("call on the killed node: %v, want ErrClosed", err)
	}
	if err := victim.Close(context.Background()); err != nil {
		t.Errorf("Close after the kill: %v", err)
	}

	waitConverged(t, nodes[:2]...)
	waitFor(t, 10*time.Second, "another node to serve "+id, func() bool {
		got := servedBy(mustCall(a, id))
		return got == nodes[0].Name() || got == nodes[1].Name()
	})
	t.Logf("%s served again %v after the kill", id, time.Since(begin).Round(time.Millisecond))
}
