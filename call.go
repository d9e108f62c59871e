package mesh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/transport"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
	"google.golang.org/protobuf/proto"
)

// Request addresses a message to a process by capability and ID.
type Request struct {
	// Capability names the kind of process.
	Capability string
	// ID identifies the process within its capability: 1 to MaxIDLen
	// bytes of valid UTF-8. The same rule holds on every path (a local
	// call, a remote one, a cast, Locate): any other ID is refused at once
	// with ErrInvalidRequest. Encode binary keys (hex, base64) first.
	ID string
	// Payload is the message. It must not be modified after the call: a
	// process on the same node receives this very value.
	Payload proto.Message
}

func (r *Request) validateTarget() error {
	if err := capability.ValidateTarget(r.Capability); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if r.ID == "" {
		return fmt.Errorf("%w: empty ID", ErrInvalidRequest)
	}
	if len(r.ID) > MaxIDLen {
		return fmt.Errorf("%w: ID of %d bytes, limit %d", ErrInvalidRequest, len(r.ID), MaxIDLen)
	}
	if !utf8.ValidString(r.ID) {
		// The wire carries IDs as protobuf strings, which must be UTF-8.
		return fmt.Errorf("%w: ID %q is not valid UTF-8", ErrInvalidRequest, r.ID)
	}
	return nil
}

func (r *Request) validate() error {
	if err := r.validateTarget(); err != nil {
		return err
	}
	if r.Payload == nil {
		return fmt.Errorf("%w: nil payload", ErrInvalidRequest)
	}
	return nil
}

// Call sends req to its process, wherever it lives, and returns the reply.
// The process is activated on its first message. The call ends by ctx's
// deadline (or the configured CallTimeout when ctx has none), retries
// included; errors match the sentinels of this package with errors.Is, and
// an error returned by the process is a *ProcessError.
func (n *Node) Call(ctx context.Context, req Request) (proto.Message, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if n.closing.Load() {
		return nil, ErrClosed
	}
	// The call's one clock read before its end: its start, which also
	// dates its deadline.
	start := time.Now()
	c := call{n: n, req: req, shard: shard.Of(req.ID, n.cfg.Shards)}
	if dl, ok := ctx.Deadline(); ok {
		c.deadline = dl
	} else {
		// A timer of our own rather than context.WithTimeout, which costs
		// a context, a cancel function and a timer per call.
		c.deadline = start.Add(n.cfg.CallTimeout)
		// The timer in a variable of its own: handed to Reset through c,
		// it took c, and the request c points to, to the heap.
		t := timers.Get().(*time.Timer)
		t.Reset(n.cfg.CallTimeout)
		c.timer = t
		defer func() {
			t.Stop()
			timers.Put(t)
		}()
	}
	return n.runCall(ctx, &c, start)
}

// timers holds stopped timers for calls whose context has no deadline.
// Since Go 1.23 a stopped timer delivers nothing stale after Reset.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// localReplies holds reply channels of local calls. A channel goes back only
// once its one answer was received, so nothing can arrive on it later.
var localReplies = sync.Pool{New: func() any { return make(chan activation.Response, 1) }}

// call is one Call in progress.
type call struct {
	n *Node
	// req is held by value: the error paths format its fields, and a
	// pointer to Call's argument took it to the heap on every call.
	req   Request
	shard uint32
	// deadline ends the call: ctx's, or CallTimeout from the start. timer
	// fires at it when ctx has no deadline of its own; nil otherwise.
	deadline time.Time
	timer    *time.Timer
	// packed and packedType are the payload in wire form, made on the
	// first remote try.
	packed     []byte
	packedType string
	// via is a node a redirect named, to ask on the next try.
	via string
	// owner and why describe the last failed try, for the final error.
	owner string
	why   error
}

// outcome of one try.
type outcome int

const (
	done  outcome = iota // reply or final error
	retry                // route again, at once
	later                // route again after a pause
)

// run routes the call until it ends; now is when it began.
func (c *call) run(ctx context.Context, now time.Time) (proto.Message, error) {
	// Work whose caller has already given up is not sent.
	if ctx.Err() != nil || !now.Before(c.deadline) {
		return nil, c.deadlineError(ctx)
	}
	pause := time.Millisecond
	for {
		reply, out, err := c.try(ctx)
		if out == done {
			return reply, err
		}
		c.why = err
		if c.over(ctx) {
			return nil, c.deadlineError(ctx)
		}
		if out == later {
			t := time.NewTimer(min(pause, time.Until(c.deadline)))
			select {
			case <-t.C:
			case <-ctx.Done():
			case <-c.timeout():
			}
			t.Stop()
			if c.over(ctx) {
				return nil, c.deadlineError(ctx)
			}
			pause = min(2*pause, 100*time.Millisecond)
		}
		if c.n.closing.Load() {
			return nil, ErrClosed
		}
	}
}

// timeout returns the channel of the call's own timer, or nil (which never
// delivers) when ctx bounds the call.
func (c *call) timeout() <-chan time.Time {
	if c.timer == nil {
		return nil
	}
	return c.timer.C
}

// over reports whether the call must end: ctx is done or the deadline has
// passed.
func (c *call) over(ctx context.Context) bool {
	return ctx.Err() != nil || !time.Now().Before(c.deadline)
}

// deadlineError is the error of a call that ctx or its deadline ended.
func (c *call) deadlineError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: call %s/%s", ErrCanceled, c.req.Capability, c.req.ID)
	}
	switch {
	case c.why != nil:
		return fmt.Errorf("%w: %s/%s on %s: %w", ErrDeadlineExceeded, c.req.Capability, c.req.ID, c.owner, c.why)
	case c.owner == "":
		return fmt.Errorf("%w: %s/%s", ErrDeadlineExceeded, c.req.Capability, c.req.ID)
	case c.owner == c.n.name:
		return fmt.Errorf("%w: %s/%s: the process did not answer in time", ErrDeadlineExceeded, c.req.Capability, c.req.ID)
	}
	return fmt.Errorf("%w: %s/%s: %w: %s did not answer", ErrDeadlineExceeded, c.req.Capability, c.req.ID, ErrUnreachable, c.owner)
}

// contextError is the error of a Cast whose ctx has ended: ErrCanceled or
// ErrDeadlineExceeded, or nil while ctx is live.
func contextError(ctx context.Context, req *Request) error {
	switch err := ctx.Err(); {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: cast %s/%s", ErrCanceled, req.Capability, req.ID)
	}
	return fmt.Errorf("%w: cast %s/%s", ErrDeadlineExceeded, req.Capability, req.ID)
}

// try routes the request once under the current snapshot.
func (c *call) try(ctx context.Context) (proto.Message, outcome, error) {
	// Every try, so that a node that loses its majority while a call is
	// under way makes no activation for it.
	if err := c.n.serving(); err != nil {
		return nil, done, err
	}
	r := c.n.routes.Load()
	ring := r.table.Ring(c.req.Capability)
	if ring == nil {
		return nil, done, r.noRing(c.req.Capability)
	}
	owner := ring.Owner(c.shard)
	if c.via != "" {
		owner, c.via = c.via, ""
	}
	c.owner = owner
	if owner == c.n.name {
		return c.local(ctx)
	}
	return c.remote(ctx, r, owner, ring.Version())
}

func (c *call) local(ctx context.Context) (proto.Message, outcome, error) {
	n := c.n
	if err := n.bounded(&c.req, proto.Size(c.req.Payload)); err != nil {
		return nil, done, err
	}
	pid, err := n.table.Ensure(c.req.Capability, c.req.ID, c.shard)
	if err != nil {
		// The capability is being withdrawn: the next snapshot routes
		// elsewhere.
		return nil, later, err
	}
	ch := localReplies.Get().(chan activation.Response)
	// No protoactor sender: the answer comes on ch, and so does ErrMoved
	// when the activation stopped between lookup and send (see deadLetter).
	n.system.Root.Send(pid, &activation.Request{Payload: c.req.Payload, Deadline: c.deadline, Ctx: ctx, Reply: ch})
	var resp activation.Response
	select {
	case resp = <-ch:
		localReplies.Put(ch)
	case <-ctx.Done():
		return nil, later, nil
	case <-c.timeout():
		return nil, later, nil
	}
	if errors.Is(resp.Err, activation.ErrMoved) {
		return nil, retry, resp.Err
	}
	if errors.Is(resp.Err, activation.ErrBusy) {
		return nil, done, fmt.Errorf("%w: %w", ErrOverloaded, resp.Err)
	}
	return resp.Payload, done, resp.Err
}

// target returns where a message for (capability, id) on remote owner
// goes: its activation, when the cache holds one on that owner, or else the
// owner's router (nil if the owner has no address yet); and the owner's
// incarnation that the message must name: the cached PID's, or 0 for the
// router, which finds the activation by (capability, ID) in whatever
// incarnation it serves.
func (n *Node) target(r *routes, capability, id string, s uint32, owner string) (pid *pa.PID, incarnation uint64, cached bool) {
	if e, ok := n.cache.Get(capability, id, s); ok && e.Owner == owner {
		return e.PID, e.Incarnation, true
	}
	return r.routers[owner], 0, false
}

// deadLetter answers a local Call whose activation stopped before the
// request reached it, so that the caller routes it again at once, and
// completes the stop of an activation that was gone before its stop
// message reached it.
func (n *Node) deadLetter(evt any) {
	d, ok := evt.(*pa.DeadLetterEvent)
	if !ok || n.table.DeadLetter(d.Message) {
		return
	}
	if r, ok := d.Message.(*activation.Request); ok && r.Reply != nil {
		r.Answer(activation.Response{Err: activation.ErrMoved})
	}
}

func (c *call) remote(ctx context.Context, r *routes, owner string, version uint64) (proto.Message, outcome, error) {
	n := c.n
	if c.packedType == "" {
		typ, b, err := wire.Pack(c.req.Payload)
		if err != nil {
			return nil, done, fmt.Errorf("%w: %w", ErrBadPayload, err)
		}
		if err := n.bounded(&c.req, len(b)); err != nil {
			return nil, done, err
		}
		c.packed, c.packedType = b, typ
	}
	pid, incarnation, cached := n.target(r, c.req.Capability, c.req.ID, c.shard, owner)
	if pid == nil {
		// Owner known to the ring but not (yet) to the member map.
		return nil, later, fmt.Errorf("%w: no address for %s", ErrUnreachable, owner)
	}
	env := &wire.Envelope{
		Capability:  c.req.Capability,
		Id:          c.req.ID,
		Shard:       c.shard,
		RingVersion: version,
		Deadline:    c.deadline.UnixNano(),
		Payload:     c.packed,
		PayloadType: c.packedType,
		WantPid:     !cached,
		Trace:       n.tracing.Carrier(ctx),

		Incarnation:       incarnation,
		CallerIncarnation: n.incarnation,
	}
	var sender pa.PID
	p := n.replies.expectAs(&sender)
	if err := n.transport.Send(pid, env, &sender); err != nil {
		p.release(false)
		return nil, sendOutcome(err), sendError(&c.req, owner, err)
	}
	var m any
	select {
	case m = <-p.ch:
	case <-ctx.Done():
	case <-c.timeout():
	}
	p.release(m != nil)
	if m == nil {
		if cached {
			n.cache.Drop(c.req.Capability, c.req.ID, c.shard, pid)
		}
		return nil, later, nil
	}
	switch m := m.(type) {
	case *wire.Reply:
		switch {
		case m.Redirect != nil:
			n.cache.Drop(c.req.Capability, c.req.ID, c.shard, pid)
			if m.Redirect.Owner == n.name {
				// The owner's view names this node, this node's does not
				// yet: handling it here now could start an empty process
				// ahead of the state on its way. Wait for the views to
				// meet.
				return nil, later, fmt.Errorf("redirected by %s to this node, which does not own the shard in its own view yet", owner)
			}
			if m.Redirect.Owner != "" && m.Redirect.Owner != owner {
				if _, ok := r.members[m.Redirect.Owner]; ok {
					c.via = m.Redirect.Owner
					return nil, retry, nil
				}
			}
			if cached {
				// The PID names no activation of this ID any more (it
				// stopped, or its node restarted): ask the router at once.
				return nil, retry, nil
			}
			// The owner sees the ring otherwise; wait for our views to meet.
			return nil, later, fmt.Errorf("redirected by %s to %q", owner, m.Redirect.Owner)
		case m.Failure != nil:
			if m.Failure.Code == wire.Code_CODE_CLOSED {
				return nil, later, failureError(&c.req, owner, m.Failure)
			}
			return nil, done, failureError(&c.req, owner, m.Failure)
		}
		reply, err := wire.Unpack(m.PayloadType, m.Payload)
		if err != nil {
			return nil, done, fmt.Errorf("%w: reply from %s: %w", ErrBadPayload, owner, err)
		}
		if m.PidId != "" {
			n.cache.Put(c.req.Capability, c.req.ID, c.shard, activation.Cached{
				PID: pa.NewPID(m.PidAddress, m.PidId), Owner: owner, Version: version, Incarnation: m.Incarnation,
			})
		}
		return reply, done, nil
	case *pa.DeadLetterResponse:
		if cached {
			// The activation is gone: ask the owner's router.
			n.cache.Drop(c.req.Capability, c.req.ID, c.shard, pid)
			return nil, retry, nil
		}
		return nil, later, fmt.Errorf("%w: %s has no router", ErrUnreachable, owner)
	}
	return nil, done, fmt.Errorf("%w: unexpected reply %T from %s", ErrBadPayload, m, owner)
}

// Cast sends req to its process without waiting for a reply. Delivery is
// at most once: Cast returns when the message is handed to the local
// activation or to the transport, and reports only errors it knows of then.
func (n *Node) Cast(ctx context.Context, req Request) error {
	if err := req.validate(); err != nil {
		return err
	}
	if err := contextError(ctx, &req); err != nil {
		return err
	}
	if n.closing.Load() {
		return ErrClosed
	}
	return n.runCast(ctx, &req)
}

func (n *Node) cast(ctx context.Context, req *Request, hops uint32) error {
	if err := n.serving(); err != nil {
		return err
	}
	s := shard.Of(req.ID, n.cfg.Shards)
	r := n.routes.Load()
	ring := r.table.Ring(req.Capability)
	if ring == nil {
		return r.noRing(req.Capability)
	}
	owner := ring.Owner(s)
	if owner == n.name {
		if err := n.bounded(req, proto.Size(req.Payload)); err != nil {
			return err
		}
		pid, err := n.table.Ensure(req.Capability, req.ID, s)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoNode, err)
		}
		n.system.Root.Send(pid, &activation.Request{Payload: req.Payload, Cast: true, Ctx: ctx})
		return nil
	}
	typ, b, err := wire.Pack(req.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	if err := n.bounded(req, len(b)); err != nil {
		return err
	}
	pid, incarnation, _ := n.target(r, req.Capability, req.ID, s, owner)
	if pid == nil {
		return fmt.Errorf("%w: no address for %s", ErrUnreachable, owner)
	}
	err = n.transport.Send(pid, &wire.Envelope{
		Capability: req.Capability, Id: req.ID, Shard: s,
		RingVersion: ring.Version(), Payload: b, PayloadType: typ, Cast: true, Hops: hops, Trace: n.tracing.Carrier(ctx),
		Incarnation: incarnation, CallerIncarnation: n.incarnation,
	}, nil)
	if err != nil {
		return sendError(req, owner, err)
	}
	return nil
}

// bounded fails a payload of size bytes over MaxPayload. Local calls are
// bounded too, so that a call does not start failing when its process
// moves to another node.
func (n *Node) bounded(req *Request, size int) error {
	if size > n.cfg.MaxPayload {
		return fmt.Errorf("%w: %s/%s: %d bytes, limit %d (Config.MaxPayload)", ErrPayloadTooLarge, req.Capability, req.ID, size, n.cfg.MaxPayload)
	}
	return nil
}

// sendError is the error of a message the transport would not take for
// owner.
func sendError(req *Request, owner string, err error) error {
	switch {
	case errors.Is(err, transport.ErrQueueFull):
		return fmt.Errorf("%w: %s/%s to %s: %w", ErrOverloaded, req.Capability, req.ID, owner, err)
	case errors.Is(err, transport.ErrTooLarge):
		return fmt.Errorf("%w: %s/%s: %w", ErrPayloadTooLarge, req.Capability, req.ID, err)
	case errors.Is(err, transport.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	// Not a member's address yet, as the transport sees members.
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, owner, err)
}

// sendOutcome says what a call does when the transport would not take its
// message: a full queue or an oversize message end it; an owner the
// transport does not know yet is retried after a pause.
func sendOutcome(err error) outcome {
	if errors.Is(err, transport.ErrNotMember) {
		return later
	}
	return done
}

// recast routes again a cast that reached a stopping activation.
func (n *Node) recast(capability, id string, payload proto.Message) {
	if n.closing.Load() {
		return
	}
	if err := n.cast(context.Background(), &Request{Capability: capability, ID: id, Payload: payload}, 1); err != nil {
		n.logger.Debug("cast dropped", "capability", capability, "id", id, "err", err)
	}
}
