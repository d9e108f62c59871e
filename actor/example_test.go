package actor_test

import (
	"context"
	"fmt"

	"github.com/meshrun/mesh/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// counter counts the messages its ID has received.
type counter struct{ n int64 }

func (c *counter) Handle(ctx actor.Context, _ proto.Message) (proto.Message, error) {
	c.n++
	return wrapperspb.String(fmt.Sprintf("%s/%s: %d", ctx.Capability(), ctx.ID(), c.n)), nil
}

// A Process can be tested without a node: call Handle with a TestContext.
func ExampleTestContext() {
	c := &counter{}
	ctx := actor.TestContext(context.Background(), "counter", "user-42")
	c.Handle(ctx, &wrapperspb.Int64Value{})
	reply, _ := c.Handle(ctx, &wrapperspb.Int64Value{})
	fmt.Println(reply.(*wrapperspb.StringValue).GetValue())
	_, hasDeadline := ctx.Deadline()
	fmt.Println("deadline:", hasDeadline, "cast:", ctx.Cast())
	// Output:
	// counter/user-42: 2
	// deadline: false cast: false
}
