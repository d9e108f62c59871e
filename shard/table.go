package shard

import (
	"maps"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Table is the placement of every capability: one Ring per capability that
// at least one member offers. It is immutable.
type Table struct {
	shards  int
	version uint64
	rings   map[string]*Ring
}

// Build returns the table for members with the given shard count. Rings of
// prev whose member set is unchanged are reused rather than rebuilt, since
// building one costs about a millisecond at 4096 shards. prev may be nil.
func Build(shards int, members []Member, prev *Table) *Table {
	offering := make(map[string][]string)
	for _, m := range members {
		for _, c := range m.Capabilities {
			offering[c] = append(offering[c], m.Name)
		}
	}
	t := &Table{shards: shards, rings: make(map[string]*Ring, len(offering))}
	for c, nodes := range offering {
		slices.Sort(nodes)
		nodes = slices.Compact(nodes)
		if prev != nil && prev.shards == shards {
			if old := prev.rings[c]; old != nil && slices.Equal(old.nodes, nodes) {
				t.rings[c] = old
				continue
			}
		}
		t.rings[c] = NewRing(c, shards, nodes)
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

// Ring returns the ring of capability, or nil when no member offers it.
func (t *Table) Ring(capability string) *Ring { return t.rings[capability] }

// Capabilities returns the capabilities that at least one member offers,
// sorted.
func (t *Table) Capabilities() []string {
	return slices.Sorted(maps.Keys(t.rings))
}
