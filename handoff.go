package mesh

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

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
// delivered is lost: the process starts empty on its new owner; the log
// and mesh_handoffs_total{result="lost"} say so.
func (n *Node) handOff(given []shard.Move, stopping *activation.Stopping, done chan struct{}) {
	defer close(done)
	start := time.Now()
	// Three quarters of the new owner's wait, so that a state whose
	// handoff fails reaches the store before the new owner gives up
	// waiting and loads from it.
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HandoffTimeout*3/4)
	defer cancel()
	if err := stopping.Wait(ctx); err != nil {
		n.logger.Info("not every moved process stopped in time; those that did not start empty on their new owner",
			"stopping", stopping.Len(), "err", err)
	}
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
		if err := n.sendHandoff(ctx, k, b); err != nil {
			if left := n.saveStates(k.capability, b.states); len(left) < len(b.states) {
				saved := len(b.states) - len(left)
				n.metrics.Handoff(k.capability, "stored", saved)
				n.logger.Info("a handoff failed; the states went to the store instead",
					"capability", k.capability, "to", k.to, "states", saved, "err", err)
				b.states = left
			}
			n.metrics.Handoff(k.capability, "lost", len(b.states))
			if len(b.states) > 0 {
				n.logger.Info("handed-off states lost: their processes start empty on the new owner",
					"capability", k.capability, "to", k.to, "states", len(b.states), "err", err)
			} else {
				n.logger.Debug("could not tell a new owner its shards are handed off", "to", k.to, "err", err)
			}
			continue
		}
		n.metrics.Handoff(k.capability, "sent", len(b.states))
		sent += len(b.states)
	}
	if sent > 0 {
		n.logger.Info("handed off process states", "states", sent, "took", time.Since(start).Round(time.Millisecond))
	}
}

// sendHandoff sends one batch to its new owner's router, in chunks, each
// acknowledged before the next; the last one names the shards.
func (n *Node) sendHandoff(ctx context.Context, k handoffKey, b *handoffBatch) error {
	chunks := chunkStates(b.states)
	for i, states := range chunks {
		last := i == len(chunks)-1
		h := &wire.Handoff{From: n.name, Capability: k.capability, States: states, Done: last}
		if last {
			h.Shards = b.shards
		}
		to := n.routes.Load().routers[k.to]
		if to == nil {
			return fmt.Errorf("%w: %s", ErrUnknownMember, k.to)
		}
		ans, err := n.ask(ctx, to, h)
		if err != nil {
			return err
		}
		if _, ok := ans.(*wire.HandoffAck); !ok {
			return fmt.Errorf("%w: %s answered a handoff with %T", ErrBadPayload, k.to, ans)
		}
	}
	return nil
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

// receiveHandoff applies the states another node handed off, refusing
// those that name no valid process of a capability this node hosts.
func (n *Node) receiveHandoff(h *wire.Handoff) *wire.HandoffAck {
	ack := &wire.HandoffAck{}
	if err := n.serving(); err != nil {
		// A node without a majority takes no state: its sender keeps
		// it in the store, if any, rather than hand it to a side that
		// serves nothing.
		ack.Refused = uint32(len(h.States))
		return ack
	}
	if err := capability.Validate(h.Capability); err != nil {
		n.logger.Warn("refused a handoff of an invalid capability", "from", h.From, "err", err)
		ack.Refused = uint32(len(h.States))
		return ack
	}
	valid := h.States[:0:0]
	for _, st := range h.States {
		id := st.GetId()
		if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) || shard.Of(id, n.cfg.Shards) != st.GetShard() {
			ack.Refused++
			continue
		}
		valid = append(valid, st)
	}
	var shards []uint32
	for _, s := range h.Shards {
		if int(s) < n.cfg.Shards {
			shards = append(shards, s)
		}
	}
	restored, refused := n.table.Restore(h.Capability, valid, shards)
	ack.Restored, ack.Refused = uint32(restored), ack.Refused+uint32(refused)
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
func (n *Node) saveStates(capability string, states []*wire.State) (left []*wire.State) {
	if n.cfg.Store == nil {
		return states
	}
	for _, st := range states {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HandoffTimeout/4)
		err := n.cfg.Store.Save(ctx, store.Key{Capability: capability, ID: st.GetId()},
			store.Record{Version: st.GetVersion() + 1, Type: st.GetType(), Format: st.GetFormat(), Data: st.GetData()})
		cancel()
		if err != nil {
			n.logger.Debug("could not save a handed-off state", "capability", capability, "id", st.GetId(), "err", err)
			left = append(left, st)
		}
	}
	return left
}
