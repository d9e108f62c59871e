package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/obs"
	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/protobuf/proto"
)

// BroadcastResult says whom a Broadcast reached.
type BroadcastResult struct {
	// Nodes counts the nodes offering the capability that took the
	// message, this node included if it offers it.
	Nodes int
	// Processes counts the processes the message was handed to, over
	// those nodes.
	Processes int
	// Failed are the nodes offering the capability that did not take it,
	// sorted by name.
	Failed []BroadcastFailure
}

// BroadcastFailure is a node offering the capability that a Broadcast did
// not reach, and why.
type BroadcastFailure struct {
	Node string
	// Err matches the sentinels of this package: ErrUnreachable with
	// ErrDeadlineExceeded for a node that did not answer in time,
	// ErrNoNode for one that no longer offers the capability, ErrNoQuorum,
	// ErrOverloaded, ErrUnreachable for a node that is closing.
	Err error
}

// Broadcast casts payload to every process of capability that is active
// now, on every node that offers it as this node sees the members, and
// activates none: an ID with no activation does not get the message.
// Each activation it is handed to receives it once, as a cast
// (Context.Cast reports true), in a copy of its own; delivery is at most
// once, as for Cast: an activation that stops before its turn drops it.
// While a process moves between nodes, and the nodes' views of the move
// differ, the activations on both nodes may get it, or neither. A node
// refuses a broadcast whose copies for its processes would hold more
// than 64 MiB (payload size times processes): ErrOverloaded, in the
// result's Failed.
//
// Broadcast returns once every node offering the capability has answered
// how many processes it handed the message to, or ctx's deadline (else
// Config.CallTimeout) has passed. The result counts the nodes and
// processes reached and lists the nodes that were not; when some were
// not, the error wraps ErrBroadcastIncomplete and each node's error. It
// fails at once, sending nothing, with ErrInvalidRequest for an invalid
// capability name or a nil payload, ErrPayloadTooLarge past
// Config.MaxPayload, ErrBadPayload for a payload that does not encode,
// ErrNoNode when no member offers the capability, ErrNoQuorum, ErrClosed,
// or ErrCanceled or ErrDeadlineExceeded when ctx has ended.
func (n *Node) Broadcast(ctx context.Context, capabilityName string, payload proto.Message) (BroadcastResult, error) {
	res, err := n.broadcast(ctx, capabilityName, payload)
	o := outcomeOf(err)
	if errors.Is(err, ErrBroadcastIncomplete) {
		o = obs.Partial
	}
	n.metrics.Broadcast(capabilityName, o, res.Processes)
	if err != nil {
		n.logger.Debug("broadcast incomplete", "capability", capabilityName, "nodes", res.Nodes, "failed", len(res.Failed), "err", err)
	}
	return res, err
}

func (n *Node) broadcast(ctx context.Context, name string, payload proto.Message) (BroadcastResult, error) {
	if err := capability.ValidateTarget(name); err != nil {
		return BroadcastResult{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if payload == nil {
		return BroadcastResult{}, fmt.Errorf("%w: nil payload", ErrInvalidRequest)
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.Canceled) {
			return BroadcastResult{}, fmt.Errorf("%w: broadcast to %s", ErrCanceled, name)
		}
		return BroadcastResult{}, fmt.Errorf("%w: broadcast to %s", ErrDeadlineExceeded, name)
	}
	if n.closing.Load() {
		return BroadcastResult{}, ErrClosed
	}
	if err := n.serving(); err != nil {
		return BroadcastResult{}, err
	}
	typ, b, err := wire.Pack(payload)
	if err != nil {
		return BroadcastResult{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	if len(b) > n.cfg.MaxPayload {
		return BroadcastResult{}, fmt.Errorf("%w: broadcast to %s: %d bytes, limit %d (Config.MaxPayload)",
			ErrPayloadTooLarge, name, len(b), n.cfg.MaxPayload)
	}
	r := n.routes.Load()
	var targets []string
	for _, m := range r.list {
		if slices.Contains(m.Meta.Capabilities, name) {
			targets = append(targets, m.Name)
		}
	}
	if len(targets) == 0 {
		return BroadcastResult{}, fmt.Errorf("%w: %q", ErrNoNode, name)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.CallTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	msg := &wire.Broadcast{Capability: name, Payload: b, PayloadType: typ, Deadline: deadline.UnixNano(),
		Trace: n.tracing.Carrier(ctx)}
	type answer struct {
		delivered int
		err       error
	}
	answers := make([]answer, len(targets))
	var wg sync.WaitGroup
	for i, to := range targets {
		if to == n.name {
			d, f := n.deliverBroadcast(ctx, name, deadline, len(b), func() (proto.Message, error) { return proto.Clone(payload), nil })
			answers[i] = answer{d, broadcastError(name, to, f)}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].delivered, answers[i].err = n.askBroadcast(ctx, r, to, msg)
		}()
	}
	wg.Wait()
	var res BroadcastResult
	var errs []error
	for i, a := range answers {
		if a.err != nil {
			res.Failed = append(res.Failed, BroadcastFailure{Node: targets[i], Err: a.err})
			errs = append(errs, a.err)
			continue
		}
		res.Nodes++
		res.Processes += a.delivered
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%w: %s: %d of %d nodes not reached: %w",
			ErrBroadcastIncomplete, name, len(res.Failed), len(targets), errors.Join(errs...))
	}
	return res, nil
}

// askBroadcast sends msg to the router of node to, as r knows it, and
// returns how many processes it handed the message to.
func (n *Node) askBroadcast(ctx context.Context, r *routes, to string, msg *wire.Broadcast) (int, error) {
	router := r.routers[to]
	if router == nil {
		return 0, fmt.Errorf("%w: no address for %s", ErrUnreachable, to)
	}
	ans, err := n.ask(ctx, router, msg)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0, fmt.Errorf("%w: %w: %s did not answer", ErrCanceled, ErrUnreachable, to)
		}
		return 0, fmt.Errorf("%w: %w: %s did not answer", ErrDeadlineExceeded, ErrUnreachable, to)
	}
	switch a := ans.(type) {
	case *wire.BroadcastAck:
		if f := a.GetFailure(); f != nil {
			return 0, broadcastError(msg.Capability, to, f)
		}
		return int(a.GetDelivered()), nil
	case *pa.DeadLetterResponse:
		return 0, fmt.Errorf("%w: no router of %s answers at %s", ErrUnreachable, to, router.Address)
	case *wire.Reply:
		// A node of an older version answers it as an unknown message.
		return 0, fmt.Errorf("%w: %s does not take broadcasts: %s", ErrBadPayload, to, a.GetFailure().GetMessage())
	}
	return 0, fmt.Errorf("%w: %s answered a broadcast with %T", ErrBadPayload, to, ans)
}

// broadcastError is the error of a node's failure to take a broadcast;
// nil for no failure.
func broadcastError(capabilityName, node string, f *wire.Failure) error {
	if f == nil {
		return nil
	}
	return failureError(&Request{Capability: capabilityName, ID: "*"}, node, f)
}

// receiveBroadcast hands a broadcast that reached this node's router to
// the active processes of its capability, each a copy of its own, and
// answers how many. It runs on the goroutine that received the message,
// as a handoff does; the bounds are the same as for a cast: the payload's
// size, the capability's name, the deadline, the node's majority.
func (n *Node) receiveBroadcast(b *wire.Broadcast) *wire.BroadcastAck {
	fail := func(code wire.Code, msg string) *wire.BroadcastAck {
		return &wire.BroadcastAck{Failure: &wire.Failure{Code: code, Message: strings.ToValidUTF8(msg, "\uFFFD")}}
	}
	if err := capability.ValidateTarget(b.GetCapability()); err != nil {
		return fail(wire.Code_CODE_INVALID_REQUEST, err.Error())
	}
	if len(b.GetPayload()) > n.cfg.MaxPayload {
		return fail(wire.Code_CODE_PAYLOAD_TOO_LARGE, fmt.Sprintf("%d bytes, limit %d", len(b.GetPayload()), n.cfg.MaxPayload))
	}
	var deadline time.Time
	if b.GetDeadline() != 0 {
		deadline = time.Unix(0, b.GetDeadline())
		if !time.Now().Before(deadline) {
			return fail(wire.Code_CODE_DEADLINE, "the deadline had passed when the node received the broadcast")
		}
	}
	// One decode up front, so that a payload this node cannot read fails
	// the broadcast rather than each process.
	first, err := wire.Unpack(b.GetPayloadType(), b.GetPayload())
	if err != nil {
		return fail(wire.Code_CODE_BAD_PAYLOAD, err.Error())
	}
	var ctx context.Context
	if len(b.GetTrace()) > 0 {
		ctx = n.tracing.Extract(b.GetTrace())
	}
	copies := 0
	delivered, f := n.deliverBroadcast(ctx, b.GetCapability(), deadline, len(b.GetPayload()), func() (proto.Message, error) {
		copies++
		if copies == 1 {
			return first, nil
		}
		return wire.Unpack(b.GetPayloadType(), b.GetPayload())
	})
	if f != nil {
		return &wire.BroadcastAck{Failure: f}
	}
	return &wire.BroadcastAck{Delivered: uint32(delivered)}
}

// maxBroadcastCopies bounds the bytes of the copies of one broadcast a
// node hands its processes: each process gets a copy of its own, queued
// in its mailbox, so a large payload to many processes would hold their
// product in memory.
const maxBroadcastCopies = 64 << 20

// deliverBroadcast hands a copy of a payload of size bytes, made by next,
// to every activation of capability on this node whose shard it owns, and
// returns how many; or the failure that stopped it from handing any: a
// broadcast whose copies would pass maxBroadcastCopies is refused as
// overloaded.
func (n *Node) deliverBroadcast(ctx context.Context, capabilityName string, deadline time.Time, size int, next func() (proto.Message, error)) (int, *wire.Failure) {
	switch {
	case n.closing.Load():
		return 0, &wire.Failure{Code: wire.Code_CODE_CLOSED, Message: "the node is closing"}
	case !n.hosts(capabilityName):
		return 0, &wire.Failure{Code: wire.Code_CODE_NO_CAPABILITY, Message: fmt.Sprintf("%s does not offer %q", n.name, capabilityName)}
	}
	if err := n.serving(); err != nil {
		return 0, &wire.Failure{Code: wire.Code_CODE_NO_QUORUM, Message: err.Error()}
	}
	r := n.routes.Load()
	active := n.table.Active(capabilityName)
	if total := int64(max(size, 1)) * int64(len(active)); total > maxBroadcastCopies {
		return 0, &wire.Failure{Code: wire.Code_CODE_OVERLOADED, Message: fmt.Sprintf(
			"%d copies of %d bytes for the processes of %q on %s: %d bytes, past the bound of %d", len(active), size, capabilityName, n.name, total, maxBroadcastCopies)}
	}
	delivered := 0
	for _, a := range active {
		if owner, _ := r.owner(capabilityName, a.Shard); owner != n.name {
			// Its shard moved on: the process is stopping.
			continue
		}
		payload, err := next()
		if err != nil {
			return delivered, &wire.Failure{Code: wire.Code_CODE_BAD_PAYLOAD, Message: err.Error()}
		}
		n.system.Root.Send(a.PID, &activation.Request{Payload: payload, Cast: true, Broadcast: true, Deadline: deadline, Ctx: ctx})
		delivered++
	}
	return delivered, nil
}
