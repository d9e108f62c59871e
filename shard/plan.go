package shard

import (
	"cmp"
	"slices"
	"strings"
)

// Move is one shard of one capability changing hands between two
// placements.
type Move struct {
	Capability string
	Shard      uint32
	// From owned the shard in the previous placement, To owns it in the
	// next; "" for no node (the capability was not offered, or is no
	// longer).
	From, To string
}

// Moves is the pure decision of what changes hands for node self when the
// placement goes from prev to next. out are the shards self holds
// activations of (held, by capability) and no longer owns: their
// activations must stop, or hand their state to To. in are the shards
// self owns in next that another node owned in prev: self may receive
// their state from From. prev may be nil (nothing was placed). Both come
// sorted by capability and shard.
func Moves(self string, prev, next *Table, held map[string][]uint32) (out, in []Move) {
	for c, shards := range held {
		ring := next.Ring(c)
		for _, s := range shards {
			to := ""
			if ring != nil && int(s) < ring.Shards() {
				to = ring.Owner(s)
			}
			if to != self {
				out = append(out, Move{Capability: c, Shard: s, From: self, To: to})
			}
		}
	}
	for _, c := range next.Capabilities() {
		ring := next.Ring(c)
		var old *Ring
		if prev != nil {
			old = prev.Ring(c)
		}
		if old == ring || !ring.Has(self) {
			continue // unchanged, or none of it is self's
		}
		for s := range uint32(ring.Shards()) {
			if ring.Owner(s) != self {
				continue
			}
			from := ""
			if old != nil && int(s) < old.Shards() {
				from = old.Owner(s)
			}
			if from != self && from != "" {
				in = append(in, Move{Capability: c, Shard: s, From: from, To: self})
			}
		}
	}
	slices.SortFunc(out, byShard)
	slices.SortFunc(in, byShard)
	return out, in
}

// Given lists the shards self owned in prev and does not own in next, with
// their next owner ("" when no node offers the capability any more),
// sorted by capability and shard. Unlike Moves' out, it does not depend on
// which shards self holds activations of: a new owner that waits for the
// states of a shard is told it may stop waiting also when self held no
// process of it.
func Given(self string, prev, next *Table) []Move {
	if prev == nil {
		return nil
	}
	var out []Move
	for _, c := range prev.Capabilities() {
		old := prev.Ring(c)
		if !old.Has(self) {
			continue
		}
		ring := next.Ring(c)
		if ring == old {
			continue
		}
		for s := range uint32(old.Shards()) {
			if old.Owner(s) != self {
				continue
			}
			to := ""
			if ring != nil && int(s) < ring.Shards() {
				to = ring.Owner(s)
			}
			if to != self {
				out = append(out, Move{Capability: c, Shard: s, From: self, To: to})
			}
		}
	}
	slices.SortFunc(out, byShard)
	return out
}

// byShard orders moves by capability, then shard.
func byShard(a, b Move) int {
	return cmp.Or(strings.Compare(a.Capability, b.Capability), cmp.Compare(a.Shard, b.Shard))
}
