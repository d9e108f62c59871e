package mesh_test

import (
	"context"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// spanSeen is a capability whose process reports the span context and a
// value of the context its message came with.
func spanSeen(seen chan<- trace.SpanContext, values chan<- any) mesh.Capability {
	return mesh.Capability{Name: "traced", New: func(string) mesh.Process {
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			c := ctx.Context()
			seen <- trace.SpanContextFromContext(c)
			values <- c.Value(ctxKey{})
			if _, ok := c.Deadline(); !ok && !ctx.Cast() {
				values <- "no deadline"
			}
			return msg, nil
		})
	}}
}

type ctxKey struct{}

// startTraced starts a node recording its spans in rec.
func startTraced(t *testing.T, name string, seeds []string, rec *tracetest.SpanRecorder, caps ...mesh.Capability) *mesh.Node {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return startNodeWith(t, name, seeds, func(cfg *mesh.Config) { cfg.TracerProvider = tp }, caps...)
}

// TestTraceAcrossNodes: a call from a span on one node to a process on
// another is one trace: the process's context carries it, the callee
// records its span as a child of the caller's, and casts carry it too.
func TestTraceAcrossNodes(t *testing.T) {
	seen, values := make(chan trace.SpanContext, 4), make(chan any, 8)
	callerRec, calleeRec := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	callee := startTraced(t, "callee", nil, calleeRec, spanSeen(seen, values))
	caller := startTraced(t, "caller", []string{callee.GossipAddr()}, callerRec)
	waitConverged(t, callee, caller)

	tracer := sdktrace.NewTracerProvider().Tracer("test")
	ctx, root := tracer.Start(context.WithValue(context.Background(), ctxKey{}, "local only"), "request")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := caller.Call(ctx, mesh.Request{Capability: "traced", ID: "a", Payload: wrapString("x")}); err != nil {
		t.Fatal(err)
	}
	root.End()
	got := <-seen
	if v := <-values; v != nil {
		t.Errorf("a remote process saw the caller's context value %v", v)
	}
	client := findSpan(t, callerRec, "mesh.call traced")
	server := findSpan(t, calleeRec, "mesh.handle traced")
	if got.TraceID() != root.SpanContext().TraceID() || got.SpanID() != server.SpanContext().SpanID() {
		t.Errorf("process saw span context %v, want the server span %v of trace %v", got, server.SpanContext(), root.SpanContext().TraceID())
	}
	if client.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("client span's parent %v, want the caller's span %v", client.Parent().SpanID(), root.SpanContext().SpanID())
	}
	if server.Parent().SpanID() != client.SpanContext().SpanID() || server.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("server span %v has parent %v, want a child of the client span %v", server.SpanContext(), server.Parent(), client.SpanContext())
	}
	if server.SpanKind() != trace.SpanKindServer || client.SpanKind() != trace.SpanKindClient {
		t.Errorf("span kinds: client %v, server %v", client.SpanKind(), server.SpanKind())
	}

	if err := caller.Cast(ctx, mesh.Request{Capability: "traced", ID: "a", Payload: wrapString("cast")}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got.TraceID() != root.SpanContext().TraceID() {
		t.Errorf("cast: process saw trace %v, want %v", got.TraceID(), root.SpanContext().TraceID())
	}
	<-values
}

// TestTraceLocalContext: without a TracerProvider nothing is recorded,
// but a process on the calling node sees the caller's context: its span
// and its values.
func TestTraceLocalContext(t *testing.T) {
	seen, values := make(chan trace.SpanContext, 1), make(chan any, 2)
	n := startNode(t, "solo", nil, spanSeen(seen, values))
	waitFor(t, 5*time.Second, "traced to be placed", func() bool { _, err := n.Locate("traced", "a"); return err == nil })
	tracer := sdktrace.NewTracerProvider().Tracer("test")
	ctx, root := tracer.Start(context.WithValue(context.Background(), ctxKey{}, "local"), "request")
	defer root.End()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := n.Call(ctx, mesh.Request{Capability: "traced", ID: "a", Payload: wrapString("x")}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("process saw span %v, want the caller's %v", got, root.SpanContext())
	}
	if v := <-values; v != "local" {
		t.Errorf("process saw value %v, want the caller's", v)
	}
}

func findSpan(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	waitFor(t, 5*time.Second, "span "+name, func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == name {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// TestTraceRemoteNoProvider: without a TracerProvider on either node, the
// caller's span context still reaches a process on another node, as a
// remote parent.
func TestTraceRemoteNoProvider(t *testing.T) {
	seen, values := make(chan trace.SpanContext, 1), make(chan any, 2)
	callee := startNode(t, "callee", nil, spanSeen(seen, values))
	caller := startNode(t, "caller", []string{callee.GossipAddr()})
	waitConverged(t, callee, caller)
	ctx, root := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer root.End()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := caller.Call(ctx, mesh.Request{Capability: "traced", ID: "a", Payload: wrapString("x")}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got.SpanID() != root.SpanContext().SpanID() || got.TraceID() != root.SpanContext().TraceID() || !got.IsRemote() {
		t.Errorf("process saw span context %v, want the caller's %v as a remote parent", got, root.SpanContext())
	}
}
