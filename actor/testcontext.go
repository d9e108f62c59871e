package actor

import (
	"context"
	"time"
)

// TestContext returns a Context for a test that calls a Process's Handle
// or Stop directly, without a node: it names (capability, id), is a Call
// rather than a Cast, and its Context and Deadline are ctx's.
func TestContext(ctx context.Context, capability, id string) Context {
	return &testContext{ctx: ctx, capability: capability, id: id}
}

type testContext struct {
	ctx            context.Context
	capability, id string
}

func (c *testContext) Capability() string { return c.capability }

func (c *testContext) ID() string { return c.id }

func (c *testContext) Deadline() (time.Time, bool) { return c.ctx.Deadline() }

func (c *testContext) Cast() bool { return false }

func (c *testContext) Context() context.Context { return c.ctx }

// Changed does nothing: there is no node to save the state.
func (c *testContext) Changed() {}
