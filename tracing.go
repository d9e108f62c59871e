package mesh

import (
	"context"
	"time"

	"github.com/meshrun/mesh/internal/activation"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// tracerName names the instrumentation library in the spans mesh records.
const tracerName = "github.com/meshrun/mesh"

// tracing is a node's OpenTelemetry set-up.
type tracing struct {
	// tracer records spans; nil when Config.TracerProvider is nil.
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newTracing(cfg Config) tracing {
	t := tracing{prop: cfg.Propagator}
	if t.prop == nil {
		t.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if cfg.TracerProvider != nil {
		t.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	return t
}

// carrier returns the trace context of ctx in the form an envelope carries
// it, or nil when ctx has none, which costs no allocation.
func (t *tracing) carrier(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() && baggage.FromContext(ctx).Len() == 0 {
		return nil
	}
	c := propagation.MapCarrier{}
	t.prop.Inject(ctx, c)
	if len(c) == 0 {
		return nil
	}
	return c
}

// extract returns a context carrying the trace context of an envelope.
func (t *tracing) extract(carrier map[string]string) context.Context {
	return t.prop.Extract(context.Background(), propagation.MapCarrier(carrier))
}

// start starts the client span of a call or cast when tracing is on.
func (t *tracing) start(ctx context.Context, op string, req *Request) (context.Context, trace.Span) {
	if t.tracer == nil {
		return ctx, nil
	}
	return t.tracer.Start(ctx, op+" "+req.Capability, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("mesh.capability", req.Capability), attribute.String("mesh.id", req.ID)))
}

// endSpan ends span, if any, recording err.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// hooks are the activation table's hooks: metrics and tracing.
func (n *Node) hooks() activation.Hooks {
	h := n.metrics.hooks()
	h.Extract = n.tracing.extract
	h.Tracer = n.tracing.tracer
	return h
}

// runCall runs a call, recording its span, its metrics and, at Debug, its
// failure.
func (n *Node) runCall(ctx context.Context, c *call) (proto.Message, error) {
	ctx, span := n.tracing.start(ctx, "mesh.call", c.req)
	start := time.Now()
	reply, err := c.run(ctx, start)
	n.metrics.called(c.req.Capability, time.Since(start), err)
	if err != nil {
		n.logger.Debug("call failed", "capability", c.req.Capability, "id", c.req.ID, "err", err)
	}
	endSpan(span, err)
	return reply, err
}

// runCast casts req, recording its span, its metrics and, at Debug, its
// failure.
func (n *Node) runCast(ctx context.Context, req *Request) error {
	ctx, span := n.tracing.start(ctx, "mesh.cast", req)
	err := n.cast(ctx, req, 0)
	n.metrics.cast(req.Capability, err)
	if err != nil {
		n.logger.Debug("cast failed", "capability", req.Capability, "id", req.ID, "err", err)
	}
	endSpan(span, err)
	return err
}
