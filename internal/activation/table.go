package activation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/store"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrNotHosted reports a capability this node does not host.
	ErrNotHosted = errors.New("mesh: capability not hosted on this node")
	// ErrMoved reports a message that reached an activation after it began
	// to stop; the caller should route the message again.
	ErrMoved = errors.New("mesh: activation moved")
	// ErrBusy reports a message refused by an activation that holds as
	// many messages as it may while it waits for its handed-off state.
	ErrBusy = errors.New("mesh: activation busy")
)

// TableConfig gives a Table what it needs to know of the node around it.
type TableConfig struct {
	// Self is this node's name.
	Self string
	// Incarnation is this node's incarnation. An activation refuses an
	// envelope that names another one: it was sent to a PID of an earlier
	// life of the node, which may name another activation now.
	Incarnation uint64
	// Factory returns the factory of a capability this node hosts.
	Factory func(capability string) (actor.Factory, bool)
	// Owner returns the owner of a shard as this node sees it now, and
	// the version of the capability's ring; owner is "" when no node
	// offers the capability.
	Owner func(capability string, shard uint32) (owner string, version uint64)
	// Stray is called, from the activation's goroutine, when a message
	// reaches an activation that no longer serves it (stopped, or its
	// shard moved): a caller still routes by an older view. If nil,
	// nothing is called.
	Stray func()
	// Recast routes again a Cast that reached an activation which had
	// begun to stop. If nil, such casts are dropped.
	Recast func(capability, id string, payload proto.Message)
	// MaxPayload bounds a reply, in bytes of its wire form: a larger one
	// fails the call with wire.ErrPayloadTooLarge. If zero, replies are not
	// bounded.
	MaxPayload int
	// Passivation returns how the processes of a capability are let go;
	// if nil, they never are.
	Passivation func(capability string) Passivation
	// Store, if set, keeps the state of processes that implement
	// actor.Snapshotter: a process loads its last saved state before its
	// first message, and saves it when it passivates or stops with no node
	// to hand it to.
	Store store.Store
	// SaveOnChange reports whether the processes of a capability save
	// their state to Store after every message that changed it (see
	// actor.Context.Changed), before the reply leaves. If nil, none does.
	SaveOnChange func(capability string) bool
	// StoreTimeout bounds one load or save. If zero, defaults to 5 s.
	StoreTimeout time.Duration
	// HandoffTimeout is how long a shard whose handoff ended before the
	// table expected it is not waited for. If zero, defaults to 5 s.
	HandoffTimeout time.Duration
	// Linger is how long a stopped activation keeps answering messages
	// that were already on their way with a redirect, before it is gone.
	// If zero, defaults to 2 s.
	Linger time.Duration
	// Logger receives the table's log lines. If nil, they are dropped.
	Logger *slog.Logger
	// Hooks observe activations and trace messages; see Hooks.
	Hooks Hooks
}

// Table is a node's activations: at most one per (capability, ID).
type Table struct {
	system *pa.ActorSystem
	cfg    TableConfig
	props  *pa.Props
	// dispatch runs the activations' mailboxes.
	dispatch *dispatcher
	acts     byCapability[striped[*entry]]
	count    atomic.Int64

	// pend are the shards whose handed-off states this node waits for,
	// by capability.
	pend byCapability[pending]

	savingMu sync.Mutex // guards saves
	// saves are the saves of passivating activations under way.
	saves map[store.Key][]saveMark

	// crowded wakes the sweeper; quit ends it.
	crowded chan struct{}
	quit    chan struct{}
	// sweepEvery is the sweeper's interval now, in nanoseconds.
	sweepEvery atomic.Int64
	closeMu    sync.Once
}

// entry is one activation as the table knows it. There is one per
// activation, so its fields are laid out to fit 40 bytes.
type entry struct {
	pid   *pa.PID
	shard uint32
	// origin says where the process's state came from: an Origin.
	origin   atomic.Int32
	since    int64 // Unix nanoseconds
	lastUsed atomic.Int64
	// flags holds waiting and served (see entryWaiting).
	flags atomic.Uint32
}

// Flags of an entry. Waiting is set while the activation holds its
// messages for the state its previous owner hands off; served once it has
// handled a message. Passivation leaves a waiting activation alone
// (stopped, it would drop the state on its way), and a new one for a
// moment.
const (
	entryWaiting uint32 = 1 << iota
	entryServed
)

func (e *entry) waiting() bool { return e.flags.Load()&entryWaiting != 0 }

func (e *entry) served() bool { return e.flags.Load()&entryServed != 0 }

// Origin says where a process's state came from.
type Origin int32

const (
	// Fresh: the process started empty.
	Fresh Origin = iota
	// HandedOff: from the state its previous owner handed off.
	HandedOff
	// Stored: from the store.
	Stored
)

func (o Origin) String() string {
	switch o {
	case HandedOff:
		return "handoff"
	case Stored:
		return "store"
	}
	return ""
}

// Activation describes one activation, for introspection.
type Activation struct {
	Capability string
	ID         string
	Shard      uint32
	PID        string
	Since      time.Time
	LastUsed   time.Time
	// Origin is where the process's state came from.
	Origin Origin
}

// NewTable returns an empty table whose activations live in system.
func NewTable(system *pa.ActorSystem, cfg TableConfig) *Table {
	if cfg.Linger == 0 {
		cfg.Linger = 2 * time.Second
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.HandoffTimeout == 0 {
		cfg.HandoffTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Table{system: system, cfg: cfg, dispatch: newDispatcher(),
		saves: map[store.Key][]saveMark{}, crowded: make(chan struct{}, 1), quit: make(chan struct{})}
	t.pend.fresh = newPending
	if cfg.Passivation != nil {
		t.sweepEvery.Store(int64(maxSweep))
		go t.sweeper()
	}
	// One Props for every activation: the activation learns who it is
	// from its first message, so no per-activation Props is kept alive.
	// A panic that escapes our own recover stops the actor rather than
	// silently restarting it with a blank state.
	t.props = pa.PropsFromProducer(func() pa.Actor { return &activation{t: t} },
		pa.WithDispatcher(t.dispatch),
		pa.WithSupervisor(pa.NewOneForOneStrategy(0, 0, func(any) pa.Directive { return pa.StopDirective })))
	return t
}

// Get returns the PID of the activation of (capability, id), if any.
func (t *Table) Get(capability, id string, shard uint32) (*pa.PID, bool) {
	m := t.acts.of(capability, false)
	if m == nil {
		return nil, false
	}
	e, ok := m.get(id, shard)
	if !ok {
		return nil, false
	}
	return e.pid, true
}

// Ensure returns the activation of (capability, id), spawning it if there
// is none. However many goroutines call Ensure for a new ID at once, one
// activation is spawned and all of them get its PID. A new activation of a
// shard the table Expects waits for its state.
func (t *Table) Ensure(capability, id string, shard uint32) (*pa.PID, error) {
	pid, _, err := t.ensure(capability, id, shard, nil)
	return pid, err
}

// ensure is Ensure; a new activation starts from st when st is set, and
// made reports whether it is new.
func (t *Table) ensure(capability, id string, shard uint32, st *wire.State) (pid *pa.PID, made bool, err error) {
	m := t.acts.of(capability, false)
	if m == nil {
		// The first activation of the capability: its map is made only
		// for a capability the node hosts.
		if _, ok := t.cfg.Factory(capability); !ok {
			return nil, false, fmt.Errorf("%w: %q", ErrNotHosted, capability)
		}
		m = t.acts.of(capability, true)
	}
	e, err := m.getOrCreate(id, shard, func() (*entry, error) {
		f, ok := t.cfg.Factory(capability)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrNotHosted, capability)
		}
		pid := t.system.Root.Spawn(t.props)
		now := time.Now().UnixNano()
		e := &entry{pid: pid, shard: shard, since: now}
		e.lastUsed.Store(now)
		init := &initMsg{capability: capability, id: id, entry: e, factory: f, state: st}
		if st == nil {
			init.await = t.awaits(capability, shard)
		}
		if !init.await.IsZero() {
			e.flags.Or(entryWaiting)
		}
		// The first user message of the mailbox, ahead of anything a
		// caller can send, since the PID is not published yet.
		t.system.Root.Send(pid, init)
		if !init.await.IsZero() {
			// After the init: a release sent at once must find the
			// activation waiting.
			t.wait(capability, shard, pid)
		}
		t.count.Add(1)
		if t.cfg.Hooks.Started != nil {
			t.cfg.Hooks.Started(capability)
		}
		made = true
		return e, nil
	})
	if err != nil {
		return nil, false, err
	}
	if made {
		t.crowd(capability, m, e)
	}
	return e.pid, made, nil
}

// Len returns the number of activations.
func (t *Table) Len() int { return int(t.count.Load()) }

// Close ends the goroutines the table keeps: the sweeper of passivation
// and those that run its activations. Call it once the actor system is
// shut down; activations that still get a message run on goroutines of
// their own.
func (t *Table) Close() {
	t.closeMu.Do(func() { close(t.quit) })
	t.dispatch.close()
}

// List returns every activation, in no particular order.
func (t *Table) List() []Activation {
	var out []Activation
	t.acts.all(func(c string, m *striped[*entry]) {
		m.each(func(id string, e *entry) {
			out = append(out, Activation{
				Capability: c, ID: id, Shard: e.shard, PID: e.pid.Id,
				Since:    time.Unix(0, e.since),
				LastUsed: time.Unix(0, e.lastUsed.Load()),
				Origin:   Origin(e.origin.Load()),
			})
		})
	})
	return out
}

// Ref is one activation as Active reports it.
type Ref struct {
	ID    string
	Shard uint32
	PID   *pa.PID
}

// Active returns the activations of capability, in no particular order:
// those in the table when it looked, which a message sent to them may
// find stopped.
func (t *Table) Active(capability string) []Ref {
	m := t.acts.of(capability, false)
	if m == nil {
		return nil
	}
	var out []Ref
	m.each(func(id string, e *entry) {
		out = append(out, Ref{ID: id, Shard: e.shard, PID: e.pid})
	})
	return out
}

// Stopping is a set of activations told to stop: Wait returns once every
// one of them has run its process's Stop.
type Stopping struct {
	n    int
	left atomic.Int64
	done chan struct{} // closed when left reaches zero

	mu     sync.Mutex // guards snaps, sealed
	snaps  []Snapshot
	sealed bool
}

// add keeps the snapshot of one stopping activation; false once the
// Stopping is sealed, when nobody will hand it off any more.
func (s *Stopping) add(snap Snapshot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sealed {
		return false
	}
	s.snaps = append(s.snaps, snap)
	return true
}

// Seal ends the collection of snapshots: a process that stops after it
// saves its state to the store, if any, instead.
func (s *Stopping) Seal() {
	s.mu.Lock()
	s.sealed = true
	s.mu.Unlock()
}

// Snapshots returns the states the stopped processes handed off so far:
// all of them once Wait has returned nil.
func (s *Stopping) Snapshots() []Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.snaps)
}

// newStopping returns a Stopping with one count held by its maker, who
// adds the activations it stops and then calls finish once for itself.
func newStopping() *Stopping {
	s := &Stopping{done: make(chan struct{})}
	s.left.Store(1)
	return s
}

// finish counts one activation stopped.
func (s *Stopping) finish() {
	if s.left.Add(-1) == 0 {
		close(s.done)
	}
}

// Len returns how many activations were told to stop.
func (s *Stopping) Len() int { return s.n }

// Finished reports whether every activation has stopped.
func (s *Stopping) Finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits until every activation has stopped, or ctx ends; it then
// returns ctx's error.
func (s *Stopping) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Held returns the shards this node holds activations of, by capability,
// each shard once.
func (t *Table) Held() map[string][]uint32 {
	held := map[string][]uint32{}
	t.acts.all(func(c string, m *striped[*entry]) {
		seen := map[uint32]bool{}
		m.each(func(_ string, e *entry) {
			if !seen[e.shard] {
				seen[e.shard] = true
				held[c] = append(held[c], e.shard)
			}
		})
	})
	return held
}

// StopWhere stops every activation for which stop returns a reason (zero
// keeps it), telling its process why and which node owns it now. The
// activations leave the table at once, so the next message for their IDs
// on this node makes a new activation; messages already on their way to a
// stopped one are answered with a redirect while it lingers. Wait on the
// result for their processes' Stop to have run.
func (t *Table) StopWhere(stop func(capability string, shard uint32) (actor.StopReason, string)) *Stopping {
	return t.stop(stop, false)
}

// StopAll stops every activation at once, without the linger of
// StopWhere: for the very end of a node, when nothing can reach them any
// more.
func (t *Table) StopAll(reason actor.StopReason) *Stopping {
	return t.stop(func(string, uint32) (actor.StopReason, string) { return reason, "" }, true)
}

// DeadLetter completes the stop of an activation that was gone before its
// stop message reached it; it reports whether msg was such a message. The
// node calls it for every dead letter.
func (t *Table) DeadLetter(msg any) bool {
	m, ok := msg.(*stopMsg)
	if ok {
		if m.saved != nil {
			t.saveAbandoned(m.saved)
		}
		m.stopping.finish()
	}
	return ok
}

func (t *Table) stop(decide func(capability string, shard uint32) (actor.StopReason, string), now bool) *Stopping {
	type stopping struct {
		pid *pa.PID
		msg *stopMsg
	}
	st := newStopping()
	defer st.finish()
	t.acts.all(func(c string, m *striped[*entry]) {
		var stops []stopping
		m.deleteWhere(func(_ string, e *entry) bool {
			reason, owner := decide(c, e.shard)
			if reason == 0 {
				return false
			}
			stops = append(stops, stopping{e.pid, &stopMsg{reason: reason, newOwner: owner, now: now, stopping: st}})
			return true
		})
		st.left.Add(int64(len(stops)))
		for _, s := range stops {
			t.system.Root.Send(s.pid, s.msg)
			if t.cfg.Hooks.Stopped != nil {
				t.cfg.Hooks.Stopped(c, s.msg.reason)
			}
		}
		st.n += len(stops)
	})
	t.count.Add(-int64(st.n))
	return st
}

// remove drops the entry of (capability, id) if it is still e.
func (t *Table) remove(capability, id string, e *entry) {
	m := t.acts.of(capability, false)
	if m != nil && m.deleteIf(id, e.shard, func(v *entry) bool { return v == e }) {
		t.count.Add(-1)
	}
}
