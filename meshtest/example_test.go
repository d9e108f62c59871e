package meshtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/meshtest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// counter counts its messages and answers the count. Its state moves
// with it in a planned change, as it implements actor.Snapshotter.
type counter struct{ n int64 }

func (c *counter) Handle(mesh.Context, proto.Message) (proto.Message, error) {
	c.n++
	return wrapperspb.Int64(c.n), nil
}

func (c *counter) Snapshot() (proto.Message, uint32, error) { return wrapperspb.Int64(c.n), 1, nil }

func (c *counter) Restore(state proto.Message, _ uint32) error {
	c.n = state.(*wrapperspb.Int64Value).GetValue()
	return nil
}

var counters = mesh.Capability{Name: "counter", New: func(string) mesh.Process { return &counter{} }}

// increment calls counter c-1 from the first node that is not its owner.
func increment(c *meshtest.Cluster) int64 {
	owner := c.Owner("counter", "c-1")
	for _, n := range c.Nodes() {
		if n == owner {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reply, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: "c-1", Payload: wrapperspb.String("inc")})
		if err != nil {
			panic(err)
		}
		return reply.(*wrapperspb.Int64Value).GetValue()
	}
	panic("no node but the owner")
}

// A counter keeps its count when its node restarts gracefully, and
// starts again from zero on another node when its node is killed (it has
// no Store to restore from).
func Example() {
	// In a test, t is the test's *testing.T; an Example has none.
	t := &standIn{}
	defer t.done()

	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	increment(c)
	increment(c)
	fmt.Println("before:", increment(c))

	c.Restart(c.Owner("counter", "c-1").Name())
	fmt.Println("after a restart:", increment(c))

	c.Kill(c.Owner("counter", "c-1").Name())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		panic(err)
	}
	fmt.Println("after a kill:", increment(c))
	// Output:
	// before: 3
	// after a restart: 4
	// after a kill: 1
}
