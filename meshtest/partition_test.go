package meshtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/meshtest"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestPartitionCutsTheTransport: a partition cuts node-to-node messages
// at once, before failure detection has seen anything: a call to a
// process on the other side gets no answer. After the heal calls go
// through again, from both sides.
func TestPartitionCutsTheTransport(t *testing.T) {
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	far := c.Node("node-3")
	var id string
	for i := range 1000 {
		if c.Owner("counter", fmt.Sprint("p-", i)) == far {
			id = fmt.Sprint("p-", i)
			break
		}
	}
	if id == "" {
		t.Fatal("node-3 owns none of 1000 IDs")
	}
	near := c.Node("node-1")
	call := func(from *mesh.Node, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := from.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.String("inc")})
		return err
	}
	if err := call(near, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Partition([]string{"node-3"})
	if err := call(near, 300*time.Millisecond); !errors.Is(err, mesh.ErrDeadlineExceeded) {
		t.Fatalf("a call across the partition: %v, want a timeout", err)
	}
	c.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, from := range []*mesh.Node{near, far} {
		if err := call(from, 5*time.Second); err != nil {
			t.Errorf("a call from %s after the heal: %v", from.Name(), err)
		}
	}
}

// TestPartitionSides: the nodes named in no side are on a side together,
// WaitPartitioned waits until every side sees only its own nodes, and
// Partition refuses names that are not nodes of the cluster, or given
// twice.
func TestPartitionSides(t *testing.T) {
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	c.Partition([]string{"node-2"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.WaitPartitioned(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("both sides saw the split after %v", time.Since(start).Round(time.Millisecond))
	for _, n := range c.Nodes() {
		var names []string
		for _, m := range n.Members() {
			names = append(names, m.Name)
		}
		want := "node-1,node-3"
		if n.Name() == "node-2" {
			want = "node-2"
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s sees %s, want %s", n.Name(), got, want)
		}
	}
	c.Heal()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionRefusesBadNames(t *testing.T) {
	tb := &standIn{}
	c := meshtest.NewCluster(tb, 2, meshtest.WithoutLeakCheck())
	defer tb.cleanup()
	for _, sides := range [][][]string{{{"node-9"}}, {{"node-1"}, {"node-1", "node-2"}}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "meshtest: partition") {
					t.Errorf("Partition(%q): %v, want a failure", sides, r)
				}
			}()
			c.Partition(sides...)
		}()
	}
}
