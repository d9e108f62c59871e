package shard

import (
	"slices"
	"strconv"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// DefaultShards is the shard count used when none is configured.
const DefaultShards = 4096

// MaxShards bounds the shard count so that owner tables stay small.
const MaxShards = 1 << 16

// Ring parameters. Every node must use the same values: the partition table
// of consistent is a pure function of the member names and these.
const (
	replicationFactor = 20
	load              = 1.25
)

// Of returns the shard of id among n shards: xxhash64(id) mod n. n must be
// positive.
func Of(id string, n int) uint32 {
	return uint32(xxhash.Sum64String(id) % uint64(n))
}

// Member is a node as placement sees it: its name, the capabilities it
// offers, its labels and what it declares of the labels each capability's
// ring requires.
type Member struct {
	Name         string
	Capabilities []string
	// Labels are the member's labels.
	Labels map[string]string
	// Requires maps a capability of Capabilities to the labels the member
	// declares that a node must carry to be on the capability's ring (see
	// Requirement); a capability with no requirement has no entry.
	Requires map[string]map[string]string
	// Draining members are on no ring.
	Draining bool
	// Weight is the member's share of every ring it is on relative to
	// the others: a member of weight 2 owns about twice the shards of a
	// member of weight 1. Zero, negative or over MaxWeight count as 1.
	Weight int
}

// MaxWeight bounds a member's weight: each unit of weight is another 20
// points of the member on the ring, and building a ring costs time in the
// number of points.
const MaxWeight = 16

// weight returns w as a ring uses it.
func weight(w int) int {
	if w < 1 || w > MaxWeight {
		return 1
	}
	return w
}

// Ring is the placement of one capability's shards over the nodes offering
// it.
type Ring struct {
	capability string
	requires   map[string]string
	version    uint64
	nodes      []string // sorted
	weights    []int    // per node, in [1, MaxWeight]
	owners     []uint16 // per shard, an index into nodes
}

// Capability returns the name of the capability the ring places.
func (r *Ring) Capability() string { return r.capability }

// Requires returns the labels every node on the ring carries (see
// Requirement); nil for none. The map must not be modified.
func (r *Ring) Requires() map[string]string { return r.requires }

// Version identifies the ring's member set: equal versions mean equal
// placement, on any node.
func (r *Ring) Version() uint64 { return r.version }

// Nodes returns the names of the nodes on the ring, sorted. The slice must
// not be modified.
func (r *Ring) Nodes() []string { return r.nodes }

// Shards returns the number of shards the ring places.
func (r *Ring) Shards() int { return len(r.owners) }

// Owner returns the node that owns shard s. s must be below Shards().
func (r *Ring) Owner(s uint32) string { return r.nodes[r.owners[s]] }

// Weight returns the weight of node on the ring (see Member.Weight); 0
// if it is not on the ring.
func (r *Ring) Weight(node string) int {
	i, ok := slices.BinarySearch(r.nodes, node)
	if !ok {
		return 0
	}
	return r.weights[i]
}

// Has reports whether node is on the ring.
func (r *Ring) Has(node string) bool {
	_, ok := slices.BinarySearch(r.nodes, node)
	return ok
}

// Moved returns the shards whose owner differs between old and r. A nil old
// ring means every shard is new and none moved; a ring with another shard
// count places different shards, so all of r's shards count as moved.
func (r *Ring) Moved(old *Ring) []uint32 {
	if old == nil || old.version == r.version && slices.Equal(old.nodes, r.nodes) {
		return nil
	}
	var moved []uint32
	for s := range r.owners {
		if len(old.owners) != len(r.owners) || r.Owner(uint32(s)) != old.Owner(uint32(s)) {
			moved = append(moved, uint32(s))
		}
	}
	return moved
}

// member adapts a node name to consistent.Member.
type member string

func (m member) String() string { return string(m) }

type hasher struct{}

func (hasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

func replicaKey(name string, idx int) []byte {
	b := make([]byte, 0, len(name)+8)
	b = append(b, name...)
	b = append(b, 0)
	return strconv.AppendInt(b, int64(idx), 10)
}

// NewRing builds the ring of capability over nodes with the given shard
// count, every node of weight 1. nodes need not be sorted and may repeat;
// it must not be empty, and shards must be in [1, MaxShards].
func NewRing(capability string, shards int, nodes []string) *Ring {
	return NewWeightedRing(capability, shards, nodes, nil)
}

// pointSep separates a node's name from the number of one of its extra
// sets of points on the ring: a byte that valid UTF-8, and so no node
// name, holds.
const pointSep = "\xff"

// NewWeightedRing is NewRing with the weight of each node (see
// Member.Weight); nodes weights does not name have weight 1. A node of
// weight w is w members of the ring: its name, and its name followed by
// 0xff and 1 ... w-1, so that it gets w times the points and, under the
// load bound, w times the shards of a node of weight 1.
func NewWeightedRing(capability string, shards int, nodes []string, weights map[string]int) *Ring {
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	ws := make([]int, len(sorted))
	index := make(map[string]int, len(sorted))
	var ms []consistent.Member
	for i, n := range sorted {
		ws[i] = weight(weights[n])
		for k := range ws[i] {
			name := n
			if k > 0 {
				name = n + pointSep + strconv.Itoa(k)
			}
			if _, dup := index[name]; !dup {
				index[name] = i
				ms = append(ms, member(name))
			}
		}
	}
	c := consistent.New(ms, consistent.Config{
		Hasher:            hasher{},
		PartitionCount:    shards,
		ReplicationFactor: replicationFactor,
		Load:              load,
		ReplicaKey:        replicaKey,
	})
	r := &Ring{
		capability: capability,
		version:    ringVersion(capability, shards, sorted, ws),
		nodes:      sorted,
		weights:    ws,
		owners:     make([]uint16, shards),
	}
	for s := range shards {
		r.owners[s] = uint16(index[c.GetPartitionOwner(s).String()])
	}
	return r
}

// ringVersion hashes what a ring is made of. A weight of 1 adds nothing,
// so rings without weights keep the versions they had before weights.
func ringVersion(capability string, shards int, sorted []string, weights []int) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(capability)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(strconv.Itoa(shards))
	for i, n := range sorted {
		_, _ = d.WriteString("\x00")
		_, _ = d.WriteString(n)
		if weights[i] != 1 {
			_, _ = d.WriteString(pointSep)
			_, _ = d.WriteString(strconv.Itoa(weights[i]))
		}
	}
	return d.Sum64()
}
