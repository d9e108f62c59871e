package mesh_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/shard"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// testLogger logs warnings and errors to the test log when MESH_TEST_LOG is
// set, and debug lines too when it is "debug".
func testLogger(t testing.TB) *slog.Logger {
	switch os.Getenv("MESH_TEST_LOG") {
	case "debug":
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	case "":
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startNode starts a node named name on loopback with free ports.
func startNode(t testing.TB, name string, seeds []string, caps ...mesh.Capability) *mesh.Node {
	t.Helper()
	return startNodeWith(t, name, seeds, nil, caps...)
}

// startNodeWith starts a node like startNode, letting edit change its
// configuration first; it is closed when the test ends.
func startNodeWith(t testing.TB, name string, seeds []string, edit func(*mesh.Config), caps ...mesh.Capability) *mesh.Node {
	t.Helper()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = name
	cfg.Seeds = seeds
	cfg.Logger = testLogger(t)
	cfg.DrainTimeout = 300 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	if len(caps) > 0 {
		if err := n.RegisterCapabilities(caps...); err != nil {
			t.Fatalf("register on %s: %v", name, err)
		}
	}
	return n
}

// startCluster starts size nodes named node-1... that all offer caps.
func startCluster(t testing.TB, size int, caps ...mesh.Capability) []*mesh.Node {
	t.Helper()
	var nodes []*mesh.Node
	var seeds []string
	for i := range size {
		n := startNode(t, fmt.Sprintf("node-%d", i+1), seeds, caps...)
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	waitConverged(t, nodes...)
	return nodes
}

// waitConverged waits until every node sees all the nodes, with the same
// capabilities, and routes by the placement those members imply.
func waitConverged(t testing.TB, nodes ...*mesh.Node) {
	t.Helper()
	waitFor(t, 15*time.Second, "routing views to converge", func() bool {
		var want uint64
		for i, n := range nodes {
			members := n.Members()
			if len(members) != len(nodes) {
				return false
			}
			var placed []shard.Member
			for _, m := range members {
				placed = append(placed, shard.Member{Name: m.Name, Capabilities: m.Capabilities,
					Labels: m.Labels, Requires: m.Requires, Draining: m.Draining, Weight: m.Weight})
			}
			v := shard.Build(shard.DefaultShards, placed, nil).Version()
			if i == 0 {
				want = v
			}
			if v != want || n.RoutingVersion() != want {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echo is a capability whose processes reply "<node>/<id>/<n>: <msg>",
// n counting the messages the process has handled.
func echo(node string) mesh.Capability {
	return mesh.Capability{Name: "echo", New: func(id string) mesh.Process {
		var n int
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			n++
			s := msg.(*wrapperspb.StringValue).GetValue()
			return wrapperspb.String(fmt.Sprintf("%s/%s/%d: %s", node, ctx.ID(), n, s)), nil
		})
	}}
}

// counted wraps a capability, counting activations.
func counted(c mesh.Capability, activations *atomic.Int64) mesh.Capability {
	inner := c.New
	c.New = func(id string) mesh.Process {
		activations.Add(1)
		return inner(id)
	}
	return c
}

func call(t testing.TB, n *mesh.Node, capability, id, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: capability, ID: id, Payload: wrapperspb.String(msg)})
	if err != nil {
		t.Fatalf("call %s/%s from %s: %v", capability, id, n.Name(), err)
	}
	return reply.(*wrapperspb.StringValue).GetValue()
}

func wrapString(s string) *wrapperspb.StringValue { return wrapperspb.String(s) }

// servedBy returns the node named in an echo reply.
func servedBy(reply proto.Message) string {
	node, _, _ := strings.Cut(reply.(*wrapperspb.StringValue).GetValue(), "/")
	return node
}

// mustCall calls echo with a short deadline and returns the reply, or nil.
func mustCall(n *mesh.Node, id string) proto.Message {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: wrapString("x")})
	if err != nil {
		return wrapString("error/" + err.Error())
	}
	return reply
}

func stringOf(m proto.Message) string { return m.(*wrapperspb.StringValue).GetValue() }

// replaceSlashes turns "node/id/n: msg" into "node id n: msg" for Sscanf.
func replaceSlashes(s string) string {
	s, _, _ = strings.Cut(s, ":")
	return strings.ReplaceAll(s, "/", " ")
}

// mustCallCap calls capability/id with a short deadline and returns the
// reply, or an "error/..." string reply.
func mustCallCap(n *mesh.Node, capability, id string) proto.Message {
	// Longer than HandoffTimeout: a node that has just joined holds a
	// first message for a moved shard until its old owner's handoff ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: capability, ID: id, Payload: wrapString("x")})
	if err != nil {
		return wrapString("error/" + err.Error())
	}
	return reply
}
