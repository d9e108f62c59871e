package activation

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// msgContext is the actor.Context of the message an activation handles.
// Each activation owns one and refills it per message, so handing it to
// the Process as an interface allocates nothing.
type msgContext struct {
	capability string
	id         string
	deadline   time.Time
	cast       bool
	// changed is set by Changed during the message.
	changed bool

	// parent is the caller's context, or one carrying the trace context
	// of a caller on another node; nil means none. ctx and cancel are
	// made from it by Context; span is the span of the message, if traced.
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	span   trace.Span
}

func (c *msgContext) Capability() string { return c.capability }

func (c *msgContext) ID() string { return c.id }

func (c *msgContext) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *msgContext) Cast() bool { return c.cast }

func (c *msgContext) Changed() { c.changed = true }

func (c *msgContext) Context() context.Context {
	if c.ctx == nil {
		parent := c.parent
		switch {
		case parent == nil:
			parent = context.Background()
		case c.cast:
			// The caster did not wait: its cancellation means nothing here.
			parent = context.WithoutCancel(parent)
		}
		c.ctx = parent
		if !c.deadline.IsZero() {
			c.ctx, c.cancel = context.WithDeadline(parent, c.deadline)
		}
	}
	return c.ctx
}

// begin prepares c for one message whose caller's context is parent (nil
// for none), starting a span when tracer is set.
func (c *msgContext) begin(parent context.Context, tracer trace.Tracer, remote bool) {
	c.parent, c.changed = parent, false
	if tracer == nil {
		return
	}
	if parent == nil {
		parent = context.Background()
	}
	kind := trace.SpanKindInternal
	if remote {
		kind = trace.SpanKindServer
	}
	c.parent, c.span = tracer.Start(parent, "mesh.handle "+c.capability, trace.WithSpanKind(kind),
		trace.WithAttributes(attribute.String("mesh.capability", c.capability), attribute.String("mesh.id", c.id),
			attribute.Bool("mesh.cast", c.cast)))
}

// end releases what begin and Context made, recording err on the span.
func (c *msgContext) end(err error) {
	if c.cancel != nil {
		c.cancel()
	}
	if c.span != nil {
		if err != nil {
			c.span.RecordError(err)
			c.span.SetStatus(codes.Error, err.Error())
		}
		c.span.End()
	}
	c.parent, c.ctx, c.cancel, c.span = nil, nil, nil, nil
}
