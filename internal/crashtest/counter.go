package crashtest

import (
	"fmt"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Capability is the name Counters registers.
const Capability = "counter"

// Counters is a capability whose processes count: an Int64Value adds its
// value and says the state changed, anything else reads. Every reply is
// the count after the message. Its state is the count (format 1).
func Counters(mode mesh.SaveMode) mesh.Capability {
	return mesh.Capability{Name: Capability, Save: mode, IdleTimeout: -1,
		New: func(string) mesh.Process { return &counter{} }}
}

type counter struct{ n int64 }

func (c *counter) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	if v, ok := msg.(*wrapperspb.Int64Value); ok {
		c.n += v.GetValue()
		ctx.Changed()
	}
	return wrapperspb.Int64(c.n), nil
}

func (c *counter) Snapshot() (proto.Message, uint32, error) { return wrapperspb.Int64(c.n), 1, nil }

func (c *counter) Restore(state proto.Message, format uint32) error {
	v, ok := state.(*wrapperspb.Int64Value)
	if !ok || format != 1 {
		return fmt.Errorf("counter state %T format %d, want Int64Value format 1", state, format)
	}
	c.n = v.GetValue()
	return nil
}
