package meshtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/meshtest"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// incrementFrom calls counter c-1 from node n.
func incrementFrom(n *mesh.Node) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: "c-1", Payload: wrapperspb.String("inc")})
	if err != nil {
		return 0, err
	}
	return reply.(*wrapperspb.Int64Value).GetValue(), nil
}

// With the default partition policy, a node cut off from the majority of
// its cluster refuses calls with ErrNoQuorum, while the majority goes on
// serving every ID. Without a Store, what the cut-off node held is lost:
// its shard starts again on the majority's side, and that count is what
// the node takes back at the heal.
func ExampleCluster_Partition() {
	t := &standIn{}
	defer t.done()

	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
	owner := c.Owner("counter", "c-1")
	var majority *mesh.Node
	for _, n := range c.Nodes() {
		if n != owner {
			majority = n
		}
	}
	incrementFrom(majority)
	n, _ := incrementFrom(majority)
	fmt.Println("before:", n)

	c.Partition([]string{owner.Name()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitPartitioned(ctx); err != nil {
		panic(err)
	}
	// A node that loses its majority serves on for a second, in case it
	// sees one again, then refuses.
	var err error
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err = owner.Call(ctx, mesh.Request{Capability: "counter", ID: "c-1", Payload: wrapperspb.String("get")}); err != nil {
			break
		}
	}
	fmt.Println("on the cut-off node:", errors.Is(err, mesh.ErrNoQuorum))
	n, err = incrementFrom(majority)
	fmt.Println("on the majority:", n, err)

	c.Heal()
	if err := c.WaitConverged(ctx); err != nil {
		panic(err)
	}
	n, err = incrementFrom(owner)
	fmt.Println("after the heal:", n, err, c.Owner("counter", "c-1") == owner)
	// Output:
	// before: 2
	// on the cut-off node: true
	// on the majority: 1 <nil>
	// after the heal: 2 <nil> true
}
