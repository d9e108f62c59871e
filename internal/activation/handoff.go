package activation

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/wire"
)

// maxStash bounds the messages an activation holds while it waits for its
// state; past it, calls are answered with a failure and casts dropped.
const maxStash = 1024

// Snapshot is the state one stopped activation hands to its new owner.
type Snapshot struct {
	Capability string
	// To is the new owner the stop named.
	To    string
	State *wire.State
}

// restoreMsg gives an activation the state its previous owner handed off.
type restoreMsg struct{ state *wire.State }

// releaseMsg tells an activation that waits for its state to start
// without: none came for it, or the wait is over.
type releaseMsg struct{}

// stashed is a message that reached an activation waiting for its state.
type stashed struct {
	msg    any
	sender *pa.PID
}

// pending are the shards of one capability this node waits to receive
// states for, each until a deadline, and the activations made meanwhile
// that wait.
type pending struct {
	// open is len(until), kept under mu, so that making an activation
	// needs no lock while no shard of the capability is awaited.
	open    atomic.Int32
	mu      sync.Mutex
	until   map[uint32]time.Time
	waiting map[uint32][]*pa.PID
	// done are the shards whose handoff ended before this node expected
	// it (the old owner saw the change first), each until when an Expect
	// of it is moot.
	done map[uint32]time.Time
}

// Expect tells the table that states of the given shards of capability
// are on their way from their previous owner: an activation made for one
// of them before its state arrives holds its messages until Restore names
// its shard, or until the deadline.
func (t *Table) Expect(capability string, shards []uint32, until time.Time) {
	p := t.pend.of(capability, true)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, s := range shards {
		if d, ok := p.done[s]; ok {
			delete(p.done, s)
			if now.Before(d) {
				continue // already handed off
			}
		}
		p.until[s] = until
	}
	p.open.Store(int32(len(p.until)))
}

func newPending() *pending {
	return &pending{until: map[uint32]time.Time{}, waiting: map[uint32][]*pa.PID{}, done: map[uint32]time.Time{}}
}

// awaits returns the deadline until which a new activation of shard must
// wait for its state, or zero. While no shard of capability is awaited,
// the common case, it takes no lock.
func (t *Table) awaits(capability string, shard uint32) time.Time {
	p := t.pend.of(capability, false)
	if p == nil || p.open.Load() == 0 {
		return time.Time{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.until[shard]
	if !ok {
		return time.Time{}
	}
	if !time.Now().Before(until) {
		delete(p.until, shard)
		delete(p.waiting, shard)
		p.open.Store(int32(len(p.until)))
		return time.Time{}
	}
	return until
}

// wait registers pid, told by its first message to wait for its state, to
// be released when the state of shard comes; when the wait ended already,
// it releases pid at once.
func (t *Table) wait(capability string, shard uint32, pid *pa.PID) {
	p := t.pend.of(capability, true)
	p.mu.Lock()
	_, pending := p.until[shard]
	if pending {
		p.waiting[shard] = append(p.waiting[shard], pid)
	}
	p.mu.Unlock()
	if !pending {
		t.system.Root.Send(pid, &releaseMsg{})
	}
}

// Restore makes or completes the activations whose states a previous
// owner handed off, and ends the wait of every activation of the named
// shards (done) that got no state. A shard done before it was expected
// (the old owner saw the change first) is not waited for when Expect names
// it within HandoffTimeout. It returns how many states it gave to
// activations and the IDs of those it refused: of a capability this node
// does not host.
func (t *Table) Restore(capability string, states []*wire.State, done []uint32) (restored int, refused []string) {
	if _, ok := t.cfg.Factory(capability); !ok {
		for _, st := range states {
			refused = append(refused, st.GetId())
		}
		return 0, refused
	}
	for _, st := range states {
		pid, made, err := t.ensure(capability, st.GetId(), st.GetShard(), st)
		if err != nil {
			refused = append(refused, st.GetId())
			continue
		}
		if !made {
			t.system.Root.Send(pid, &restoreMsg{state: st})
		}
		restored++
	}
	if len(done) == 0 {
		return restored, refused
	}
	p := t.pend.of(capability, true)
	p.mu.Lock()
	var release []*pa.PID
	moot := time.Now().Add(t.cfg.HandoffTimeout)
	for _, s := range done {
		if _, ok := p.until[s]; ok {
			release = append(release, p.waiting[s]...)
			delete(p.until, s)
			delete(p.waiting, s)
		} else {
			p.done[s] = moot
		}
	}
	p.open.Store(int32(len(p.until)))
	p.mu.Unlock()
	for _, pid := range release {
		t.system.Root.Send(pid, &releaseMsg{})
	}
	return restored, refused
}

// snapshot packs the process's state, if it has any to hand off.
func (a *activation) snapshot() (st *wire.State, err error) {
	s, ok := a.proc.(actor.Snapshotter)
	if !ok {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("%w: Snapshot panicked: %v", actor.ErrProcessFailed, r)
		}
	}()
	msg, format, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	typ, data, err := wire.Pack(msg)
	if err != nil {
		return nil, err
	}
	return &wire.State{Id: a.ctx.id, Shard: a.e.shard, Type: typ, Data: data, Format: format, Version: a.version}, nil
}

// restore makes the process and gives it st; a process that cannot take
// it starts empty.
func (a *activation) restore(st *wire.State) {
	if a.served || a.proc != nil {
		// It already handled messages here, or took another state: two
		// activations of the ID lived at once (a split, or an old owner
		// whose view lagged). The process joins the two if it can.
		if err := a.merge(st); err != nil {
			a.handoffResult("conflict")
			a.t.cfg.Logger.Info("dropped a handed-off state: the process already served messages on this node and did not merge it",
				"capability", a.ctx.capability, "id", a.ctx.id, "err", err)
			return
		}
		// The joined state follows both: its next save must follow the
		// later of their versions.
		a.version = max(a.version, st.GetVersion())
		a.handedOff = nil
		a.handoffResult("merged")
		a.t.cfg.Logger.Debug("merged a handed-off state into the process", "capability", a.ctx.capability, "id", a.ctx.id)
		return
	}
	a.version = st.GetVersion()
	if err := a.restoreFrom(st); err != nil {
		a.proc = nil
		a.handoffResult("refused")
		a.t.cfg.Logger.Info("dropped a handed-off state; the process starts empty",
			"capability", a.ctx.capability, "id", a.ctx.id, "err", err)
		return
	}
	if a.t.cfg.Store == nil {
		a.handedOff = st // to make the process again after a panic
	}
	a.e.origin.Store(int32(HandedOff))
	a.handoffResult("restored")
}

// errNoMerger reports a process that cannot merge a state.
var errNoMerger = errors.New("the process does not implement actor.Merger")

// merge gives st to the process's Merge; an error when it has no process
// with Merger, cannot decode st, or Merge fails or panics.
func (a *activation) merge(st *wire.State) (err error) {
	m, ok := a.proc.(actor.Merger)
	if !ok {
		return errNoMerger
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: Merge panicked: %v", actor.ErrProcessFailed, r)
		}
	}()
	msg, err := wire.Unpack(st.GetType(), st.GetData())
	if err != nil {
		return err
	}
	return m.Merge(msg, st.GetFormat())
}

func (a *activation) restoreFrom(st *wire.State) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: Restore panicked: %v", actor.ErrProcessFailed, r)
		}
	}()
	if a.proc = a.factory(a.ctx.id); a.proc == nil {
		return fmt.Errorf("%w: factory returned nil", actor.ErrProcessFailed)
	}
	s, ok := a.proc.(actor.Snapshotter)
	if !ok {
		return fmt.Errorf("%T cannot restore a state (no Snapshotter)", a.proc)
	}
	msg, err := wire.Unpack(st.GetType(), st.GetData())
	if err != nil {
		return err
	}
	return s.Restore(msg, st.GetFormat())
}

func (a *activation) handoffResult(result string) {
	if a.t.cfg.Hooks.Handoff != nil {
		a.t.cfg.Hooks.Handoff(a.ctx.capability, result)
	}
}

// hold keeps a message that arrived while the activation waits for its
// state; false when the stash is full.
func (a *activation) hold(c pa.Context, msg any) bool {
	if len(a.stash) >= maxStash {
		return false
	}
	a.stash = append(a.stash, stashed{msg: msg, sender: c.Sender()})
	return true
}

// resume ends the wait for the state and handles what was held, in order.
func (a *activation) resume(c pa.Context) {
	a.awaiting = false
	a.e.flags.And(^entryWaiting)
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	stash := a.stash
	a.stash = nil
	for _, s := range stash {
		switch m := s.msg.(type) {
		case *Request:
			a.onRequest(c, m)
		case *wire.Envelope:
			a.onEnvelopeFrom(c, m, s.sender)
		}
	}
}

// IgnoreDeadLetterLogging: a state or release for an activation that has
// just stopped needs no log line.
func (*restoreMsg) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging: see restoreMsg.
func (*releaseMsg) IgnoreDeadLetterLogging() {}
