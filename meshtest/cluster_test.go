package meshtest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/meshtest"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func count(t *testing.T, from *mesh.Node, id string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := from.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.String("inc")})
	if err != nil {
		t.Fatalf("call %s from %s: %v", id, from.Name(), err)
	}
	return reply.(*wrapperspb.Int64Value).GetValue()
}

func hosts(n *mesh.Node, id string) bool {
	return slices.ContainsFunc(n.Activations(), func(a mesh.Activation) bool { return a.ID == id })
}

// otherThan returns a running node that is not n.
func otherThan(t *testing.T, c *meshtest.Cluster, n *mesh.Node) *mesh.Node {
	t.Helper()
	for _, o := range c.Nodes() {
		if o != n {
			return o
		}
	}
	t.Fatal("no other node")
	return nil
}

func TestNewClusterConverges(t *testing.T) {
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	nodes := c.Nodes()
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name())
		if got := len(n.Members()); got != 3 {
			t.Errorf("%s sees %d members, want 3", n.Name(), got)
		}
		if n.RoutingVersion() != nodes[0].RoutingVersion() {
			t.Errorf("%s routes by %x, node-1 by %x", n.Name(), n.RoutingVersion(), nodes[0].RoutingVersion())
		}
		if c.Node(n.Name()) != n {
			t.Errorf("Node(%q) is not the node of that name", n.Name())
		}
	}
	if got, want := strings.Join(names, ","), "node-1,node-2,node-3"; got != want {
		t.Errorf("nodes %s, want %s", got, want)
	}
	if c.Node("node-4") != nil {
		t.Error("Node of a name the cluster does not have is not nil")
	}
}

// TestOwner: the node Owner names is the one that activates the process,
// whichever node calls.
func TestOwner(t *testing.T) {
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	owners := map[string]bool{}
	for i := range 12 {
		id := fmt.Sprint("o-", i)
		owner := c.Owner("counter", id)
		if owner == nil {
			t.Fatalf("no owner of %s", id)
		}
		owners[owner.Name()] = true
		count(t, c.Nodes()[i%3], id)
		for _, n := range c.Nodes() {
			if hosts(n, id) != (n == owner) {
				t.Errorf("%s: %s hosts it: %v; Owner said %s", id, n.Name(), hosts(n, id), owner.Name())
			}
		}
	}
	if len(owners) < 2 {
		t.Errorf("twelve IDs all owned by %v", owners)
	}
	if c.Owner("nobody-offers-this", "x") != nil {
		t.Error("Owner of a capability no node offers is not nil")
	}
}

// TestRestartKeepsServing: a restarted owner is a new incarnation under
// the same name, and the counter goes on from its handed-off count.
func TestRestartKeepsServing(t *testing.T) {
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	owner := c.Owner("counter", "r-1")
	from := otherThan(t, c, owner)
	for range 3 {
		count(t, from, "r-1")
	}
	restarted := c.Restart(owner.Name())
	if restarted.Name() != owner.Name() || restarted.Incarnation() == owner.Incarnation() {
		t.Errorf("restart of %s/%x gave %s/%x", owner.Name(), owner.Incarnation(), restarted.Name(), restarted.Incarnation())
	}
	if c.Node(owner.Name()) != restarted || len(c.Nodes()) != 3 {
		t.Errorf("after the restart: Node(%q) = %p, want %p; %d nodes", owner.Name(), c.Node(owner.Name()), restarted, len(c.Nodes()))
	}
	if got := count(t, from, "r-1"); got != 4 {
		t.Errorf("count after the restart %d, want 4", got)
	}
}

// TestKillTakesOver: after a Kill the others detect the failure within a
// few seconds and serve the killed node's IDs, from scratch.
func TestKillTakesOver(t *testing.T) {
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	victim := c.Owner("counter", "k-1")
	from := otherThan(t, c, victim)
	for range 3 {
		count(t, from, "k-1")
	}
	begin := time.Now()
	c.Kill(victim.Name())
	if c.Node(victim.Name()) != nil || len(c.Nodes()) != 2 {
		t.Fatalf("%s still listed after the kill", victim.Name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	owner := c.Owner("counter", "k-1")
	if owner == nil || owner.Name() == victim.Name() {
		t.Fatalf("owner after the kill: %v", owner)
	}
	if got := count(t, from, "k-1"); got != 1 {
		t.Errorf("count on the new owner %d, want 1: a kill saves nothing", got)
	}
	t.Logf("%s's failure detected in %v", victim.Name(), took.Round(time.Millisecond))
	if took < 500*time.Millisecond {
		t.Errorf("converged %v after the kill: too soon for failure detection, the node must have left", took)
	}

	// A killed node restarts as a crashed process does.
	back := c.Restart(victim.Name())
	if len(c.Nodes()) != 3 || c.Node(victim.Name()) != back {
		t.Errorf("%s not back after its restart", victim.Name())
	}
}

// TestLeakCheck: the check at cleanup fails the test for a goroutine left
// running, and passes once the nodes and everything else have ended.
func TestLeakCheck(t *testing.T) {
	for _, leak := range []bool{false, true} {
		t.Run(fmt.Sprint("leak=", leak), func(t *testing.T) {
			s := &standIn{}
			c := meshtest.NewCluster(s, 2, meshtest.WithCapabilities(counters))
			count(t, c.Nodes()[0], "l-1")
			count(t, c.Nodes()[1], "l-2")
			stop := make(chan struct{})
			if leak {
				go func() { <-stop }()
			}
			errs := s.cleanup()
			close(stop)
			if got := len(errs) > 0; got != leak {
				t.Errorf("leak check reported %q with leak %v", errs, leak)
			}
		})
	}
}
