package obs

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the instrumentation library in the spans mesh records.
const tracerName = "github.com/meshrun/mesh"

// Tracing is a node's OpenTelemetry set-up.
type Tracing struct {
	// tracer records spans; nil when Config.TracerProvider is nil.
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// NewTracing records spans with provider, if not nil, and carries trace
// context across nodes with prop, or W3C trace context and baggage if prop
// is nil.
func NewTracing(provider trace.TracerProvider, prop propagation.TextMapPropagator) Tracing {
	t := Tracing{prop: prop}
	if t.prop == nil {
		t.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if provider != nil {
		t.tracer = provider.Tracer(tracerName)
	}
	return t
}

// Tracer returns the tracer of the spans processes' messages get, or nil
// when tracing is off.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer }

// Carrier returns the trace context of ctx in the form an envelope
// carries it, or nil when ctx has none, which costs no allocation.
func (t *Tracing) Carrier(ctx context.Context) map[string]string {
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

// Extract returns a context carrying the trace context of an envelope.
func (t *Tracing) Extract(carrier map[string]string) context.Context {
	return t.prop.Extract(context.Background(), propagation.MapCarrier(carrier))
}

// Start starts the client span of a call or cast (op) to (capability, id)
// when tracing is on; otherwise it returns ctx and a nil span.
func (t *Tracing) Start(ctx context.Context, op, capability, id string) (context.Context, trace.Span) {
	if t.tracer == nil {
		return ctx, nil
	}
	return t.tracer.Start(ctx, op+" "+capability, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("mesh.capability", capability), attribute.String("mesh.id", id)))
}

// EndSpan ends span, if any, recording err.
func EndSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
