package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
	"github.com/meshrun/mesh/store"
)

// handoffChunk bounds the bytes of states one Handoff message carries, and
// handoffStates their number; a larger handoff takes several messages.
const (
	handoffChunk  = 1 << 20
	handoffStates = 4096
)

// stateSize bounds the bytes st takes in a Handoff: its fields and their
// tags and lengths.
func stateSize(st *wire.State) int {
	return len(st.GetId()) + len(st.GetType()) + len(st.GetData()) + 48
}

// handoffKey groups what one new owner receives of one capability.
type handoffKey struct{ to, capability string }

// handoffBatch is what one new owner receives of one capability: the
// shards it takes over, and the states of the processes that had them.
type handoffBatch struct {
	shards []uint32
	states []*wire.State
}

// expect tells the table which shards this node takes over from nodes
// that are still members, and so may hand their states off: their first
// messages wait for the states.
func (n *Node) expect(in []shard.Move) {
	if len(in) == 0 {
		return
	}
	byCapability := map[string][]uint32{}
	for _, m := range in {
		byCapability[m.Capability] = append(byCapability[m.Capability], m.Shard)
	}
	until := time.Now().Add(n.cfg.HandoffTimeout)
	for c, shards := range byCapability {
		n.table.Expect(c, shards, until)
	}
}

// handOff waits for the activations of the shards this node gave away
// (given) to stop, and sends their states, and the list of shards, to
// their new owners, bounded by HandoffTimeout. A state that cannot be
// delivered goes to the store, if any, or is lost: the process starts
// empty on its new owner; the log and mesh_handoffs_total say which.
func (n *Node) handOff(given []shard.Move, stopping *activation.Stopping, done chan struct{}) {
	defer close(done)
	start := time.Now()
	// Three quarters of the new owner's wait, so that a state whose
	// handoff fails has a chance to reach the store before the new owner
	// gives up waiting and loads from it. Close ends it too.
	ctx, cancel := context.WithTimeout(n.handoffCtx, n.cfg.HandoffTimeout*3/4)
	defer cancel()
	if err := stopping.Wait(ctx); err != nil {
		n.logger.Info("not every moved process stopped in time; those that did not save to the store, if any, and start from it on their new owner",
			"stopping", stopping.Len(), "err", err)
	}
	// From here on, a process that stops late saves to the store rather
	// than into a handoff already under way.
	stopping.Seal()
	batches := map[handoffKey]*handoffBatch{}
	batch := func(k handoffKey) *handoffBatch {
		b := batches[k]
		if b == nil {
			b = &handoffBatch{}
			batches[k] = b
		}
		return b
	}
	for _, m := range given {
		if m.To != "" && m.To != n.name {
			b := batch(handoffKey{m.To, m.Capability})
			b.shards = append(b.shards, m.Shard)
		}
	}
	for _, s := range stopping.Snapshots() {
		b := batch(handoffKey{s.To, s.Capability})
		b.states = append(b.states, s.State)
	}
	sent := 0
	for k, b := range batches {
		delivered, undelivered, err := n.sendHandoff(ctx, k, b)
		n.metrics.Handoff(k.capability, "sent", delivered)
		sent += delivered
		if len(undelivered) > 0 {
			var more int
			undelivered, more = n.redeliver(ctx, k.capability, k.to, undelivered)
			sent += more
		}
		if len(undelivered) == 0 {
			if err != nil {
				n.logger.Debug("could not tell a new owner its shards are handed off", "to", k.to, "err", err)
			}
			continue
		}
		left := n.saveStates(ctx, k.capability, undelivered)
		if saved := len(undelivered) - len(left); saved > 0 {
			n.metrics.Handoff(k.capability, "stored", saved)
			n.logger.Info("states that could not be handed off went to the store instead",
				"capability", k.capability, "to", k.to, "states", saved, "err", err)
		}
		if len(left) > 0 {
			n.metrics.Handoff(k.capability, "lost", len(left))
			n.logger.Info("handed-off states lost: their processes start empty on the new owner",
				"capability", k.capability, "to", k.to, "states", len(left), "err", err)
		}
	}
	if sent > 0 {
		n.logger.Info("handed off process states", "states", sent, "took", time.Since(start).Round(time.Millisecond))
	}
}

// sendHandoff sends one batch to its new owner's router, in chunks, each
// acknowledged before the next; the last one names the shards. It returns
// how many states the new owner took, and those it did not: refused by it,
// too large to travel, or never acknowledged.
func (n *Node) sendHandoff(ctx context.Context, k handoffKey, b *handoffBatch) (delivered int, undelivered []*wire.State, err error) {
	states := make([]*wire.State, 0, len(b.states))
	for _, st := range b.states {
		if stateSize(st) > n.cfg.MaxPayload {
			undelivered = append(undelivered, st)
		} else {
			states = append(states, st)
		}
	}
	chunks := chunkStates(states)
	for i, chunk := range chunks {
		last := i == len(chunks)-1
		h := &wire.Handoff{From: n.name, Capability: k.capability, States: chunk, Done: last}
		if last {
			h.Shards = b.shards
		}
		ack, err := n.askHandoffServed(ctx, k.to, h)
		if err != nil {
			for _, c := range chunks[i:] {
				undelivered = append(undelivered, c...)
			}
			return delivered, undelivered, err
		}
		refused := make(map[string]bool, len(ack.GetRefusedIds()))
		for _, id := range ack.GetRefusedIds() {
			refused[id] = true
		}
		for _, st := range chunk {
			if refused[st.GetId()] {
				undelivered = append(undelivered, st)
			} else {
				delivered++
			}
		}
	}
	return delivered, undelivered, nil
}

// redeliverWait bounds how long a handoff waits for this node's view to
// name another owner for the states their new owner did not take.
const redeliverWait = 500 * time.Millisecond

// redeliver hands the states that node tried did not take to the owner of
// their shard in this node's view now, once that is another node (this
// node included: it takes them back), waiting up to redeliverWait for the
// view to move on. A node may route a handoff by a view it leaves a
// moment later: at a heal it may see part of the other side first, and
// send states where their shard does not go, which the receiver refuses.
// It returns the states still undelivered, and how many it delivered.
func (n *Node) redeliver(ctx context.Context, capability, tried string, states []*wire.State) ([]*wire.State, int) {
	last := make(map[string]string, len(states)) // ID → the node last tried
	for _, st := range states {
		last[st.GetId()] = tried
	}
	delivered := 0
	deadline := time.Now().Add(redeliverWait)
	for len(states) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
		groups := map[string][]*wire.State{}
		var left []*wire.State
		for _, st := range states {
			owner, _ := n.owner(capability, st.GetShard())
			if owner == "" || owner == last[st.GetId()] {
				left = append(left, st)
			} else {
				groups[owner] = append(groups[owner], st)
			}
		}
		for owner, group := range groups {
			var undelivered []*wire.State
			if owner == n.name {
				refused := map[string]bool{}
				for _, id := range n.receiveHandoff(&wire.Handoff{From: n.name, Capability: capability, States: group}).GetRefusedIds() {
					refused[id] = true
				}
				for _, st := range group {
					if refused[st.GetId()] {
						undelivered = append(undelivered, st)
					}
				}
			} else {
				var got int
				got, undelivered, _ = n.sendHandoff(ctx, handoffKey{owner, capability}, &handoffBatch{states: group})
				n.metrics.Handoff(capability, "sent", got)
			}
			delivered += len(group) - len(undelivered)
			for _, st := range undelivered {
				last[st.GetId()] = owner
			}
			left = append(left, undelivered...)
		}
		states = left
		if len(groups) == 0 {
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	if delivered > 0 {
		n.logger.Info("handed states off again to the owners this node's view names now",
			"capability", capability, "tried", tried, "states", delivered)
	}
	return states, delivered
}

// errUndelivered marks a handoff that came back as a dead letter: it
// reached no router, and may be sent again.
var errUndelivered = errors.New("mesh: handoff undelivered")

// notServingRetry is how long a handoff waits before it sends a chunk
// again that its new owner refused for not serving.
const notServingRetry = 50 * time.Millisecond

// askHandoffServed is askHandoff, sent again every notServingRetry while
// the new owner answers that it does not serve, or the handoff comes back
// undelivered, until ctx ends: at a heal the node that regains its
// majority may see the heal a moment after the sender, and the sender's
// connection to it may still be failing (its transport then answers what
// it queued with dead letters: nothing was delivered, so sending again is
// safe). The last answer stands when ctx ends.
func (n *Node) askHandoffServed(ctx context.Context, to string, h *wire.Handoff) (*wire.HandoffAck, error) {
	for {
		ack, err := n.askHandoff(ctx, to, h)
		again := errors.Is(err, errUndelivered) || err == nil && ack.GetNotServing()
		if !again || ctx.Err() != nil {
			return ack, err
		}
		t := time.NewTimer(notServingRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ack, err
		}
	}
}

// askHandoff sends one Handoff to node to and returns its answer.
func (n *Node) askHandoff(ctx context.Context, to string, h *wire.Handoff) (*wire.HandoffAck, error) {
	pid := n.routes.Load().routers[to]
	if pid == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownMember, to)
	}
	ans, err := n.ask(ctx, pid, h)
	if err != nil {
		return nil, err
	}
	if _, ok := ans.(*pa.DeadLetterResponse); ok {
		return nil, fmt.Errorf("%w: %w: the handoff did not reach %s", errUndelivered, ErrUnreachable, to)
	}
	ack, ok := ans.(*wire.HandoffAck)
	if !ok {
		return nil, fmt.Errorf("%w: %s answered a handoff with %T", ErrBadPayload, to, ans)
	}
	return ack, nil
}

// chunkStates splits states into the chunks of a handoff: at most
// handoffStates each, and at most handoffChunk bytes unless one state
// alone is larger. There is always one chunk, empty if states is.
func chunkStates(states []*wire.State) [][]*wire.State {
	chunks := [][]*wire.State{nil}
	bytes := 0
	for _, st := range states {
		cur := chunks[len(chunks)-1]
		if len(cur) > 0 && (len(cur) == handoffStates || bytes+stateSize(st) > handoffChunk) {
			chunks = append(chunks, nil)
			cur, bytes = nil, 0
		}
		chunks[len(chunks)-1] = append(cur, st)
		bytes += stateSize(st)
	}
	return chunks
}

// receiveHandoff applies the states another node handed off. It takes a
// state, and a shard named done, only from the node that owns the shard in
// this node's view (it saw the change first) or for a shard this node owns
// (it saw it first): a node that owns neither cannot plant a state, nor end
// a wait. Those it refuses, and those of a capability it does not host or
// that name no valid process, go back in the answer.
func (n *Node) receiveHandoff(h *wire.Handoff) *wire.HandoffAck {
	ack := &wire.HandoffAck{}
	refuse := func(st *wire.State) {
		ack.Refused++
		if utf8.ValidString(st.GetId()) && len(st.GetId()) <= MaxIDLen {
			ack.RefusedIds = append(ack.RefusedIds, st.GetId())
		}
	}
	// A node without a majority takes no state: its sender tries again
	// for a while (the node may be regaining its majority at a heal), then
	// keeps it in the store, if any, rather than hand it to a side that
	// serves nothing.
	notServing := n.serving() != nil
	if notServing || capability.ValidateTarget(h.Capability) != nil || !n.hosts(h.Capability) {
		for _, st := range h.States {
			refuse(st)
		}
		ack.NotServing = notServing
		return ack
	}
	rt := n.routes.Load()
	rightful := func(s uint32) bool {
		if int(s) >= n.cfg.Shards {
			return false
		}
		owner, _ := rt.owner(h.Capability, s)
		return owner == n.name || owner == h.From
	}
	valid := h.States[:0:0]
	for _, st := range h.States {
		id := st.GetId()
		if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) || shard.Of(id, n.cfg.Shards) != st.GetShard() || !rightful(st.GetShard()) {
			refuse(st)
			continue
		}
		valid = append(valid, st)
	}
	var shards []uint32
	if h.GetDone() {
		for _, s := range h.Shards {
			if rightful(s) {
				shards = append(shards, s)
			}
		}
	}
	restored, refused := n.table.Restore(h.Capability, valid, shards)
	ack.Restored, ack.Refused = uint32(restored), ack.Refused+uint32(len(refused))
	ack.RefusedIds = append(ack.RefusedIds, refused...)
	if ack.Refused > 0 {
		n.logger.Warn("refused handed-off states", "from", h.From, "capability", h.Capability, "refused", ack.Refused)
	}
	return ack
}

// startHandoff hands off, on a goroutine of its own, what a placement
// change stops; waitHandoffs waits for it.
func (n *Node) startHandoff(given []shard.Move, stopping *activation.Stopping) {
	done := make(chan struct{})
	n.stopsMu.Lock()
	n.handoffs = append(slices.DeleteFunc(n.handoffs, closed), done)
	n.stopsMu.Unlock()
	go n.handOff(given, stopping, done)
}

// endHandoffs ends what is left of the handoffs, so that none outlives the
// node: they stop at once, their goroutines within a second.
func (n *Node) endHandoffs() {
	n.stopHandoffs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.waitHandoffs(ctx); err != nil {
		n.logger.Warn("handoffs did not end", "err", err)
	}
}

// waitHandoffs waits until the handoffs under way are done, or ctx ends.
func (n *Node) waitHandoffs(ctx context.Context) error {
	n.stopsMu.Lock()
	pending := slices.Clone(n.handoffs)
	n.stopsMu.Unlock()
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("handoffs under way: %w", ctx.Err())
		}
	}
	return nil
}

// closed reports whether ch is closed.
func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// saveStates writes to the store the states a failed handoff could not
// deliver, each following the version it was read at, and returns those
// it could not save.
func (n *Node) saveStates(ctx context.Context, capability string, states []*wire.State) (left []*wire.State) {
	if n.cfg.Store == nil {
		return states
	}
	// The handoff's own deadline may be spent: the saves get a quarter of
	// HandoffTimeout more between them, and end with Close.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.HandoffTimeout/4)
	defer cancel()
	stop := context.AfterFunc(n.handoffCtx, cancel)
	defer stop()
	for _, st := range states {
		err := n.cfg.Store.Save(ctx, store.Key{Capability: capability, ID: st.GetId()},
			store.Record{Version: st.GetVersion() + 1, Type: st.GetType(), Format: st.GetFormat(), Data: st.GetData()})
		if err != nil {
			n.logger.Debug("could not save a handed-off state", "capability", capability, "id", st.GetId(), "err", err)
			left = append(left, st)
		}
	}
	return left
}
