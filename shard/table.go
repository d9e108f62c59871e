package shard

import (
	"maps"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Table is the placement of every capability: one Ring per capability that
// at least one member may be placed for (see Eligible). It is immutable.
type Table struct {
	shards  int
	version uint64
	rings   map[string]*Ring
}

// Build returns the table for members with the given shard count: the
// ring of each capability is over the members Eligible names for it. Rings
// of prev whose member set and requirement are unchanged are reused rather
// than rebuilt, since building one costs about a millisecond at 4096
// shards. prev may be nil.
func Build(shards int, members []Member, prev *Table) *Table {
	offered := make(map[string]bool)
	for _, m := range members {
		if m.Draining {
			continue
		}
		for _, c := range m.Capabilities {
			offered[c] = true
		}
	}
	weights := make(map[string]int)
	for _, m := range members {
		if w := weight(m.Weight); w != 1 {
			weights[m.Name] = w
		}
	}
	t := &Table{shards: shards, rings: make(map[string]*Ring, len(offered))}
	for c := range offered {
		requires, nodes := Eligible(members, c)
		if len(nodes) == 0 {
			continue // no member meets the requirement
		}
		if prev != nil && prev.shards == shards {
			if old := prev.rings[c]; old != nil && slices.Equal(old.nodes, nodes) && sameLabels(old.requires, requires) &&
				sameWeights(old, weights) {
				t.rings[c] = old
				continue
			}
		}
		r := NewWeightedRing(c, shards, nodes, weights)
		r.requires = requires
		t.rings[c] = r
	}
	d := xxhash.New()
	for _, c := range slices.Sorted(maps.Keys(t.rings)) {
		var b [8]byte
		v := t.rings[c].version
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		_, _ = d.Write(b[:])
	}
	t.version = d.Sum64()
	return t
}

// Shards returns the shard count of every ring in the table.
func (t *Table) Shards() int { return t.shards }

// Version identifies the whole placement: two tables with equal versions
// place every capability identically.
func (t *Table) Version() uint64 { return t.version }

// Ring returns the ring of capability, or nil when no member may be placed
// for it: none offers it, or none that offers it meets its requirement or
// is not draining (Explain says which).
func (t *Table) Ring(capability string) *Ring { return t.rings[capability] }

// Capabilities returns the capabilities that have a ring, sorted.
func (t *Table) Capabilities() []string {
	return slices.Sorted(maps.Keys(t.rings))
}

// sameWeights reports whether every node of r has the weight weights gives
// it (1 if none).
func sameWeights(r *Ring, weights map[string]int) bool {
	for i, n := range r.nodes {
		if r.weights[i] != weight(weights[n]) {
			return false
		}
	}
	return true
}
