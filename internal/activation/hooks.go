package activation

import (
	"context"

	"github.com/meshrun/mesh/actor"
	"go.opentelemetry.io/otel/trace"
)

// Hooks let the node around a Table count activations and trace the
// messages processes handle. Every field may be nil.
type Hooks struct {
	// Started is called once for every activation made, with its
	// capability, from the goroutine that made it and under a lock of the
	// table: it must be quick and must not use the table.
	Started func(capability string)
	// Stopped is called for every activation StopWhere stops, from the
	// goroutine that called StopWhere.
	Stopped func(capability string, reason actor.StopReason)
	// Handoff is called, from the activation's goroutine, with the result
	// of a state handoff for one process: "restored", "refused" (the
	// process would not take it), "merged" (it had already served
	// messages here, or taken another state, and merged this one:
	// actor.Merger), "conflict" (likewise, but it did not merge it, and
	// the state was dropped), "failed" (it could not snapshot). It must be quick.
	Handoff func(capability, result string)
	// Store is called, from the activation's goroutine, with the result
	// of a store operation for one process: "loaded", "saved", "stale"
	// (refused: another activation wrote since), "refused" (the process
	// would not take the stored state), "failed". It must be quick.
	Store func(capability, result string)
	// Misaddressed is called, from the activation's goroutine, for every
	// envelope an activation refuses because it names another incarnation
	// of the node or another (capability, ID): it was sent to a PID cached
	// before the node restarted. It must be quick.
	Misaddressed func()
	// Extract turns the trace carrier of an envelope from another node into
	// the context its process sees. It is called from the activation's
	// goroutine, only for envelopes that carry trace context.
	Extract func(carrier map[string]string) context.Context
	// Tracer, if set, records a span around every message a process
	// handles, a child of the caller's span.
	Tracer trace.Tracer
}
