package mesh_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// movingCounter is a counter whose count moves with it: it implements
// actor.Snapshotter.
type movingCounter struct {
	node  string
	count int64
}

func (c *movingCounter) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	c.count += msg.(*wrapperspb.Int64Value).GetValue()
	return wrapperspb.String(fmt.Sprintf("%s = %d on %s", ctx.ID(), c.count, c.node)), nil
}

// Snapshot is the state handed to the next owner, in format 1.
func (c *movingCounter) Snapshot() (proto.Message, uint32, error) {
	return wrapperspb.Int64(c.count), 1, nil
}

// Restore starts the counter from a handed-off state.
func (c *movingCounter) Restore(state proto.Message, format uint32) error {
	if format != 1 {
		return fmt.Errorf("counter state format %d, want 1", format)
	}
	c.count = state.(*wrapperspb.Int64Value).GetValue()
	return nil
}

// A process that implements actor.Snapshotter keeps its state when its
// shard moves: here its node drains, and the counter goes on from 15 on
// the other node.
func Example_handoff() {
	ctx := context.Background()
	start := func(name string, seeds ...string) *mesh.Node {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.Seeds = name, seeds
		n, err := mesh.Start(ctx, cfg)
		if err != nil {
			log.Fatal(err)
		}
		err = n.RegisterCapabilities(mesh.Capability{Name: "counter", New: func(string) mesh.Process {
			return &movingCounter{node: name}
		}})
		if err != nil {
			log.Fatal(err)
		}
		return n
	}
	add := func(n *mesh.Node, delta int64) {
		reply, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: "user-42", Payload: wrapperspb.Int64(delta)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.(*wrapperspb.StringValue).GetValue())
	}

	a := start("node-1")
	defer a.Close(ctx)
	add(a, 5)
	add(a, 10)

	b := start("node-2", a.GossipAddr())
	defer b.Close(ctx)
	// Both nodes route by the same placement once each sees the other.
	for len(a.Members()) < 2 || a.RoutingVersion() != b.RoutingVersion() {
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Drain(ctx); err != nil {
		log.Fatal(err)
	}
	add(b, 1)
	// Output:
	// user-42 = 5 on node-1
	// user-42 = 15 on node-1
	// user-42 = 16 on node-2
}
