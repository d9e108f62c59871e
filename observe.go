package mesh

import (
	"context"
	"errors"
	"time"

	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/obs"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// outcomeOf classifies the error of a call or cast for the metrics.
func outcomeOf(err error) obs.Outcome {
	if err == nil {
		return obs.OK
	}
	return failedOutcome(err)
}

// failedOutcome is outcomeOf a failure: apart, because the target of
// errors.As goes to the heap, and a call that succeeds should not pay for
// it.
func failedOutcome(err error) obs.Outcome {
	var pe *ProcessError
	switch {
	case errors.As(err, &pe):
		return obs.ProcessError
	case errors.Is(err, ErrProcessFailed):
		return obs.ProcessFailed
	case errors.Is(err, ErrUnreachable):
		return obs.Unreachable
	case errors.Is(err, context.DeadlineExceeded):
		return obs.Deadline
	case errors.Is(err, context.Canceled):
		return obs.Canceled
	case errors.Is(err, ErrNoNode):
		return obs.NoNode
	case errors.Is(err, ErrBadPayload):
		return obs.BadPayload
	case errors.Is(err, ErrInvalidRequest):
		return obs.Invalid
	case errors.Is(err, ErrClosed):
		return obs.Closed
	case errors.Is(err, ErrOverloaded):
		return obs.Overloaded
	case errors.Is(err, ErrStore):
		return obs.Store
	case errors.Is(err, ErrNoQuorum):
		return obs.NoQuorum
	}
	return obs.Other
}

// newMetrics returns the metrics of n, which read its activations and
// members at scrape time.
func newMetrics(n *Node) *obs.Metrics {
	return obs.NewMetrics(obs.State{
		Name:        n.name,
		Activations: func() map[string]int { return n.table.Counts() },
		Members: func() map[string]int {
			states := map[string]int{string(MemberAlive): 0, string(MemberSuspect): 0, string(MemberDraining): 0}
			for _, m := range n.Members() {
				states[string(m.State)]++
			}
			return states
		},
		Sent: n.transport.Sent, // listen made the transport first
	})
}

// Metrics returns the node's Prometheus metrics, for serving them other
// than on the admin endpoint's /metrics. Each node has a registry of its
// own.
func (n *Node) Metrics() prometheus.Gatherer { return n.metrics.Registry() }

// hooks are the activation table's hooks: metrics and tracing.
func (n *Node) hooks() activation.Hooks {
	h := n.metrics.Hooks()
	h.Extract = n.tracing.Extract
	h.Tracer = n.tracing.Tracer()
	return h
}

// runCall runs a call that began at start, recording its span, its metrics
// and, at Debug, its failure.
func (n *Node) runCall(ctx context.Context, c *call, start time.Time) (proto.Message, error) {
	ctx, span := n.tracing.Start(ctx, "mesh.call", c.req.Capability, c.req.ID)
	reply, err := c.run(ctx, start)
	n.metrics.Called(c.req.Capability, c.shard, time.Since(start), outcomeOf(err))
	if err != nil {
		n.logger.Debug("call failed", "capability", c.req.Capability, "id", c.req.ID, "err", err)
	}
	obs.EndSpan(span, err)
	return reply, err
}

// runCast casts req, recording its span, its metrics and, at Debug, its
// failure.
func (n *Node) runCast(ctx context.Context, req *Request) error {
	ctx, span := n.tracing.Start(ctx, "mesh.cast", req.Capability, req.ID)
	err := n.cast(ctx, req, 0)
	n.metrics.Cast(req.Capability, outcomeOf(err))
	if err != nil {
		n.logger.Debug("cast failed", "capability", req.Capability, "id", req.ID, "err", err)
	}
	obs.EndSpan(span, err)
	return err
}
