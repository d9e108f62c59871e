package activation

import pa "github.com/asynkron/protoactor-go/actor"

// Cached is a caller's memory of where a remote activation lives.
type Cached struct {
	PID *pa.PID
	// Owner is the node that served the call, and Version the version of
	// the capability's ring the caller routed it under. An entry is only
	// used while the caller's ring still has that version, or still names
	// Owner for the shard.
	Owner   string
	Version uint64
	// Incarnation is the owner's incarnation the PID was made under; a
	// message to the PID carries it, and the owner refuses it when the
	// node has restarted since.
	Incarnation uint64
}

// Cache maps (capability, ID) to the PID of its remote activation, so that
// warm calls go straight to the activation instead of through the owner's
// router. It is bounded: past its size, arbitrary entries are evicted.
type Cache struct {
	perStripe int
	m         byCapability[striped[Cached]]
}

// NewCache returns a cache holding about size entries per capability. If
// size is zero it defaults to 1<<20.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1 << 20
	}
	return &Cache{perStripe: max(1, size/stripes)}
}

// Get returns the entry of (capability, id).
func (c *Cache) Get(capability, id string, shard uint32) (Cached, bool) {
	m := c.m.of(capability, false)
	if m == nil {
		return Cached{}, false
	}
	return m.get(id, shard)
}

// Put remembers the entry of (capability, id).
func (c *Cache) Put(capability, id string, shard uint32, e Cached) {
	c.m.of(capability, true).put(id, shard, e, c.perStripe)
}

// Drop forgets (capability, id) if its entry still names pid.
func (c *Cache) Drop(capability, id string, shard uint32, pid *pa.PID) {
	if m := c.m.of(capability, false); m != nil {
		m.deleteIf(id, shard, func(e Cached) bool { return e.PID.Equal(pid) })
	}
}

// DropNode forgets every entry that names node.
func (c *Cache) DropNode(node string) {
	c.m.all(func(_ string, m *striped[Cached]) {
		m.deleteWhere(func(_ string, e Cached) bool { return e.Owner == node })
	})
}
