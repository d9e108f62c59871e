package activation

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/protobuf/proto"
)

// Request is a Call or Cast delivered to an activation within one node.
type Request struct {
	Payload proto.Message
	// Deadline is the caller's deadline; zero means none. An activation
	// drops a request whose deadline has passed: its caller is gone.
	Deadline time.Time
	Cast     bool
	// Broadcast marks a cast to every active process of a capability:
	// one that reaches an activation which no longer serves its ID is
	// dropped rather than routed again, which would activate the ID
	// elsewhere.
	Broadcast bool
	// Ctx is the caller's context; the process reaches it through
	// Context.Context. nil means none.
	Ctx context.Context
	// Reply, for a Call, receives the one Response; it must have room
	// for it (a buffer of one). A Request without Reply is answered to
	// its protoactor sender, if any.
	Reply chan Response
}

// Response answers a Request that is not a Cast.
type Response struct {
	Payload proto.Message
	Err     error
}

type initMsg struct {
	capability, id string
	entry          *entry
	factory        actor.Factory
	// state, if set, is the state its previous owner handed off; else,
	// until a non-zero await, the activation holds its messages for one.
	state *wire.State
	await time.Time
}

type stopMsg struct {
	reason   actor.StopReason
	newOwner string
	// now skips the linger: nothing can be on its way any more.
	now bool
	// stopping is told once the process's Stop has run (or there was
	// none).
	stopping *Stopping
	// saved, if set, is closed once the process's state is saved (or
	// there was none to save): a new activation of the ID waits for it
	// before it loads.
	saved chan struct{}
}

// activation is the protoactor actor that hosts one actor.Process.
type activation struct {
	t       *Table
	e       *entry
	factory actor.Factory
	proc    actor.Process
	ctx     msgContext
	// gone is set once the activation has been told to stop; from then on
	// it redirects every message until it is removed.
	gone bool
	// served is set once the process handled a message here: a state
	// handed off later is older than what it holds.
	served bool
	// awaiting is set while the activation holds its messages (stash)
	// for the state its previous owner hands off; timer ends the wait.
	awaiting bool
	stash    []stashed
	timer    *time.Timer
	// version is the version of the process's state in the store that
	// this activation last read or wrote, or that its handed-off state
	// carried; its next save must follow it.
	version uint64
	// handedOff is the state the activation started from, to make the
	// process again from after a panic when there is no store.
	handedOff *wire.State
}

func (a *activation) Receive(c pa.Context) {
	switch m := c.Message().(type) {
	case *Request:
		if a.awaiting && !a.hold(c, m) {
			m.respond(c, Response{Err: fmt.Errorf("%w: %s/%s waits for its handed-off state", ErrBusy, a.ctx.capability, a.ctx.id)})
			return
		}
		if !a.awaiting {
			a.onRequest(c, m)
		}
	case *wire.Envelope:
		if a.awaiting && !a.hold(c, m) {
			a.reply(c, c.Sender(), m, &wire.Reply{Failure: &wire.Failure{Code: wire.Code_CODE_OVERLOADED,
				Message: fmt.Sprintf("%s/%s waits for its handed-off state", a.ctx.capability, a.ctx.id)}})
			return
		}
		if !a.awaiting {
			a.onEnvelopeFrom(c, m, c.Sender())
		}
	case *restoreMsg:
		if !a.gone {
			a.restore(m.state)
		}
		if a.awaiting {
			a.resume(c)
		}
	case *releaseMsg:
		if a.awaiting {
			a.resume(c)
		}
	case *initMsg:
		a.e, a.factory = m.entry, m.factory
		a.ctx.capability, a.ctx.id = m.capability, m.id
		switch {
		case m.state != nil:
			a.restore(m.state)
		case !m.await.IsZero():
			a.awaiting = true
			self, system := c.Self(), c.ActorSystem()
			a.timer = time.AfterFunc(time.Until(m.await), func() { system.Root.Send(self, &releaseMsg{}) })
		}
	case *stopMsg:
		a.stop(c, m)
	case *pa.ReceiveTimeout:
		c.Stop(c.Self())
	case *pa.Stopped:
		if a.e != nil && !a.gone {
			// Stopped from outside (node shutdown): forget it.
			a.t.remove(a.ctx.capability, a.ctx.id, a.e)
		}
	}
}

func (a *activation) onRequest(c pa.Context, r *Request) {
	// The message's one clock read, for its deadline and the process's
	// last use.
	now := monoNow()
	if !r.Deadline.IsZero() && now.After(r.Deadline) {
		return
	}
	if owner, _ := a.t.cfg.Owner(a.ctx.capability, a.e.shard); a.gone || owner != a.t.cfg.Self {
		// Not ours to handle: the caller routed by a view this node has
		// left since (its shard moved on), so the process here may not
		// hold the state, or may be about to hand it off.
		a.stray()
		if r.Broadcast {
			return
		}
		if r.Cast {
			a.recast(a.ctx.capability, a.ctx.id, r.Payload)
		} else {
			r.respond(c, Response{Err: ErrMoved})
		}
		return
	}
	reply, err := a.handle(r.Ctx, false, r.Payload, r.Deadline, r.Cast, now)
	if r.Cast {
		return
	}
	if err == nil && a.t.cfg.MaxPayload > 0 {
		// The same bound as across nodes, so that a call does not start
		// failing when its process moves away.
		err = a.bounded(proto.Size(reply))
	}
	if err != nil {
		reply = nil
	}
	r.respond(c, Response{Payload: reply, Err: err})
}

// bounded fails a reply of n bytes over MaxPayload.
func (a *activation) bounded(n int) error {
	if max := a.t.cfg.MaxPayload; max > 0 && n > max {
		return fmt.Errorf("%w: %s/%s replied %d bytes, limit %d", wire.ErrPayloadTooLarge, a.ctx.capability, a.ctx.id, n, max)
	}
	return nil
}

// IgnoreDeadLetterLogging tells protoactor not to log a Request it
// dead-letters: the node answers it instead (and protoactor's log
// throttle would start a goroutine for it).
func (*Request) IgnoreDeadLetterLogging() {}

// respond answers r on its Reply channel, or to its sender.
func (r *Request) respond(c pa.Context, resp Response) {
	if r.Reply != nil {
		r.Answer(resp)
	} else if c.Sender() != nil {
		// A copy, so that only this path puts resp on the heap.
		sent := resp
		c.Respond(&sent)
	}
}

// Answer puts resp on r's Reply channel unless it already holds an
// answer; it never blocks. A node uses it to answer a Request that was
// dead-lettered because its activation had just stopped.
func (r *Request) Answer(resp Response) {
	select {
	case r.Reply <- resp:
	default:
	}
}

func (a *activation) onEnvelopeFrom(c pa.Context, env *wire.Envelope, sender *pa.PID) {
	now := time.Now()
	var deadline time.Time
	if env.Deadline != 0 {
		deadline = time.Unix(0, env.Deadline)
		if now.After(deadline) {
			return
		}
	}
	owner, version := a.t.cfg.Owner(env.Capability, env.Shard)
	addressed := a.addressed(env)
	if !addressed && a.t.cfg.Hooks.Misaddressed != nil {
		a.t.cfg.Hooks.Misaddressed()
	}
	if a.gone || owner != a.t.cfg.Self || !addressed {
		// Not ours to handle: a caller routed by an older view, or sent
		// to a PID that names another activation now (see addressed). The
		// caller forgets the PID and asks the owner's router.
		a.stray()
		if !env.Cast {
			a.reply(c, sender, env, &wire.Reply{Redirect: &wire.Redirect{Owner: owner, RingVersion: version}})
		} else if payload, ok := a.unpack(c, sender, env); ok {
			a.recast(env.Capability, env.Id, payload)
		}
		return
	}
	payload, ok := a.unpack(c, sender, env)
	if !ok {
		return
	}
	var parent context.Context
	if len(env.Trace) > 0 && a.t.cfg.Hooks.Extract != nil {
		parent = a.t.cfg.Hooks.Extract(env.Trace)
	}
	reply, err := a.handle(parent, true, payload, deadline, env.Cast, now)
	if env.Cast {
		return
	}
	rep := &wire.Reply{}
	if err == nil {
		rep.PayloadType, rep.Payload, err = wire.Pack(reply)
	}
	if err == nil {
		err = a.bounded(len(rep.Payload))
	}
	if err != nil {
		rep.PayloadType, rep.Payload = "", nil
		rep.Failure = failureOf(err)
	}
	if env.WantPid {
		rep.PidAddress, rep.PidId = c.Self().Address, c.Self().Id
	}
	a.reply(c, sender, env, rep)
}

// unpack decodes env's payload; when it cannot, it logs it, answers the
// caller with the failure and reports false.
func (a *activation) unpack(c pa.Context, sender *pa.PID, env *wire.Envelope) (proto.Message, bool) {
	payload, err := wire.Unpack(env.PayloadType, env.Payload)
	if err != nil {
		a.t.cfg.Logger.Warn("undecodable payload", "capability", env.Capability, "id", env.Id, "sender", sender, "err", err)
		a.reply(c, sender, env, &wire.Reply{Failure: &wire.Failure{Code: wire.Code_CODE_BAD_PAYLOAD, Message: err.Error()}})
		return nil, false
	}
	return payload, true
}

// addressed reports whether env is meant for this activation. protoactor
// numbers actors from 1 in every process, so a PID cached before its node
// restarted names whichever activation holds that number now: the
// envelope's incarnation tells the two lives apart, and its (capability,
// ID) must be this activation's.
func (a *activation) addressed(env *wire.Envelope) bool {
	return env.Incarnation == a.t.cfg.Incarnation && env.Id == a.ctx.id && env.Capability == a.ctx.capability
}

// reply answers env to its sender, stamped with this node's incarnation
// (the caller caches the PID under it) and the caller's own (so that a
// restarted caller drops answers meant for its previous life).
func (a *activation) reply(c pa.Context, sender *pa.PID, env *wire.Envelope, rep *wire.Reply) {
	if !env.Cast && sender != nil {
		rep.Incarnation, rep.CallerIncarnation = a.t.cfg.Incarnation, env.CallerIncarnation
		c.Send(sender, rep)
	}
}

// failureOf turns an error of Handle into its wire form. The text is the
// process's own (an error's, a panic's) and travels as a protobuf string,
// which must be UTF-8: anything else becomes U+FFFD.
func failureOf(err error) *wire.Failure {
	f := &wire.Failure{Code: wire.Code_CODE_BAD_PAYLOAD, Message: err.Error()}
	var pe *actor.ProcessError
	switch {
	case errors.As(err, &pe):
		f.Code, f.Message = wire.Code_CODE_APPLICATION, pe.Msg
	case errors.Is(err, actor.ErrProcessFailed):
		f.Code = wire.Code_CODE_PROCESS_FAILED
	case errors.Is(err, wire.ErrPayloadTooLarge):
		f.Code = wire.Code_CODE_PAYLOAD_TOO_LARGE
	case errors.Is(err, ErrStore):
		f.Code = wire.Code_CODE_STORE
	}
	f.Message = strings.ToValidUTF8(f.Message, "\uFFFD")
	return f
}

// handle runs the process on one message taken at now, making the process
// first if needed, and turns a panic into actor.ErrProcessFailed. parent is
// the caller's context, or one carrying a remote caller's trace context.
func (a *activation) handle(parent context.Context, remote bool, msg proto.Message, deadline time.Time, cast bool, now time.Time) (reply proto.Message, err error) {
	a.e.lastUsed.Store(now.UnixNano())
	a.ctx.deadline, a.ctx.cast = deadline, cast
	a.ctx.begin(parent, a.t.cfg.Hooks.Tracer, remote)
	defer func() { a.ctx.end(err) }()
	defer func() {
		if r := recover(); r != nil {
			a.proc = nil
			reply, err = nil, fmt.Errorf("%w: %s/%s panicked: %v", actor.ErrProcessFailed, a.ctx.capability, a.ctx.id, r)
			a.t.cfg.Logger.Warn("process panicked; it will be made again on its next message",
				"capability", a.ctx.capability, "id", a.ctx.id, "panic", fmt.Sprint(r))
			a.t.cfg.Logger.Debug("panic stack", "stack", string(debug.Stack()))
		}
	}()
	if a.proc == nil {
		if err := a.make(); err != nil {
			return nil, err
		}
	}
	if !a.served {
		a.served = true
		a.e.flags.Or(entryServed)
	}
	reply, err = a.proc.Handle(&a.ctx, msg)
	if a.ctx.changed && a.t.cfg.SaveOnChange != nil && a.t.cfg.SaveOnChange(a.ctx.capability) {
		if err := a.persist(); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, &actor.ProcessError{Capability: a.ctx.capability, ID: a.ctx.id, Msg: err.Error(), Err: err}
	}
	if reply == nil && !cast {
		return nil, &actor.ProcessError{Capability: a.ctx.capability, ID: a.ctx.id, Msg: "nil reply"}
	}
	return reply, nil
}

func (a *activation) stop(c pa.Context, m *stopMsg) {
	defer m.stopping.finish()
	if m.saved != nil {
		defer a.t.saveDone(a.ctx.capability, a.ctx.id, m.saved)
	}
	if a.gone {
		return
	}
	a.gone = true
	if a.awaiting {
		// Moved on again before its state came: what it holds goes where
		// the node now routes it.
		a.resume(c)
	}
	if a.proc != nil && m.newOwner == "" {
		a.save()
	}

	if a.proc != nil && m.newOwner != "" {
		st, err := a.snapshot()
		switch {
		case err != nil:
			a.handoffResult("failed")
			a.t.cfg.Logger.Info("could not snapshot a process; it starts empty on its new owner",
				"capability", a.ctx.capability, "id", a.ctx.id, "to", m.newOwner, "err", err)
		case st != nil:
			if !m.stopping.add(Snapshot{Capability: a.ctx.capability, To: m.newOwner, State: st}) {
				// Too late for the handoff, which went without it.
				a.save()
			}
		}
	}
	if s, ok := a.proc.(actor.Stopper); ok {
		a.ctx.deadline, a.ctx.cast = time.Time{}, false
		defer a.ctx.end(nil)
		func() {
			defer func() {
				if r := recover(); r != nil {
					a.t.cfg.Logger.Warn("process panicked in Stop", "capability", a.ctx.capability, "id", a.ctx.id, "panic", fmt.Sprint(r))
				}
			}()
			s.Stop(&a.ctx, m.reason, m.newOwner)
		}()
	}
	a.proc = nil
	if m.now {
		c.Stop(c.Self())
		return
	}
	c.SetReceiveTimeout(a.t.cfg.Linger)
}

func (a *activation) stray() {
	if a.t.cfg.Stray != nil {
		a.t.cfg.Stray()
	}
}

func (a *activation) recast(capability, id string, payload proto.Message) {
	if a.t.cfg.Recast != nil {
		a.t.cfg.Recast(capability, id, payload)
	}
}

// make makes the process: from the store's state when there is a store,
// else from the state it was handed, if any (after a panic), else empty.
func (a *activation) make() error {
	if a.t.cfg.Store == nil && a.handedOff != nil {
		if err := a.restoreFrom(a.handedOff); err == nil {
			return nil
		}
	}
	if a.proc = a.factory(a.ctx.id); a.proc == nil {
		return fmt.Errorf("%w: %s/%s: factory returned nil", actor.ErrProcessFailed, a.ctx.capability, a.ctx.id)
	}
	if err := a.load(); err != nil {
		a.proc = nil
		return err
	}
	return nil
}
