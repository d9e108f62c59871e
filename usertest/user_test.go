package meshuser_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's Shutdown does not wait for a probe in flight.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// counter is a capability whose processes count their messages and reply
// "<node>/<id>/<count>".
func counter(node string) mesh.Capability {
	return mesh.Capability{Name: "counter", New: func(id string) mesh.Process {
		n := 0
		return mesh.ProcessFunc(func(mesh.Context, proto.Message) (proto.Message, error) {
			n++
			return wrapperspb.String(fmt.Sprintf("%s/%s/%d", node, id, n)), nil
		})
	}}
}

func start(t *testing.T, name string, seeds []string) *mesh.Node {
	t.Helper()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName, cfg.Seeds = name, seeds
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	if err := n.RegisterCapabilities(counter(name)); err != nil {
		t.Fatal(err)
	}
	return n
}

func call(n *mesh.Node, id string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.String("inc")})
	if err != nil {
		return "", err
	}
	return reply.(*wrapperspb.StringValue).GetValue(), nil
}

// TestThreeNodesInOneProcess starts three nodes in this process, as an
// application's own tests would, calls IDs on all of them from one, stops
// one hard and checks that its IDs are served by the others.
func TestThreeNodesInOneProcess(t *testing.T) {
	a := start(t, "a", nil)
	b := start(t, "b", []string{a.GossipAddr()})
	c := start(t, "c", []string{a.GossipAddr(), b.GossipAddr()})
	waitFor(t, "three nodes routing counter over all three", func() bool {
		owners := map[string]bool{}
		for i := range 100 {
			if p, err := a.Locate("counter", fmt.Sprint("probe-", i)); err == nil {
				owners[p.Owner] = true
			}
		}
		v := a.RoutingVersion()
		return len(owners) == 3 && b.RoutingVersion() == v && c.RoutingVersion() == v
	})
	owners := map[string][]string{}
	for i := range 300 {
		id := fmt.Sprint("id-", i)
		var got string
		waitFor(t, "a reply for "+id, func() bool {
			var err error
			got, err = call(a, id)
			return err == nil
		})
		p, _ := a.Locate("counter", id)
		if want := fmt.Sprintf("%s/%s/", p.Owner, id); got[:len(want)] != want {
			t.Fatalf("%s answered %q, want it from %s", id, got, p.Owner)
		}
		owners[p.Owner] = append(owners[p.Owner], id)
	}
	if len(owners) != 3 {
		t.Fatalf("300 IDs landed on %d nodes", len(owners))
	}

	// A hard stop: no drain.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Close(ctx); !errors.Is(err, mesh.ErrDrainIncomplete) {
		t.Fatalf("Close with a canceled ctx: %v", err)
	}
	for _, id := range owners["c"] {
		waitFor(t, id+" served by a survivor", func() bool {
			got, err := call(a, id)
			return err == nil && got[:2] != "c/"
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
