package activation

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// stripes is the number of locks a striped map spreads its keys over. With
// 64, five hundred callers activating new IDs at once pushed the stripe
// mutexes into starvation mode (B1's p99 was 60-110 ms); with 1024 it is
// about 40 us. Each stripe costs 32 bytes per capability.
const stripes = 1024

// tableHint sizes a stripe's map when it is made: past 8 entries Go makes
// a hashed table, which finds a key by its hash and compares about one
// stored key, where a map of up to 8 compares the key with each stored key
// of its length, all of them for IDs of one length, each a cache miss in a
// node holding many activations. A node with a few thousand IDs has fewer
// than 8 per stripe; the hashed table halved the time of their lookups,
// for about 800 bytes more per stripe used.
const tableHint = 9

// striped is a map from ID to V split into independently locked stripes,
// chosen by the ID's shard, so that callers of different IDs rarely meet on
// a lock.
type striped[V any] struct {
	s [stripes]struct {
		mu sync.RWMutex // guards m
		m  map[string]V
	}
	// n counts the entries getOrCreate made and the deletes removed (put
	// does not count).
	n atomic.Int64
}

func (m *striped[V]) get(id string, shard uint32) (V, bool) {
	s := &m.s[shard%stripes]
	s.mu.RLock()
	v, ok := s.m[id]
	s.mu.RUnlock()
	return v, ok
}

// getOrCreate returns the value of id, calling create under the stripe's
// lock when there is none, so that create runs at most once per missing ID.
func (m *striped[V]) getOrCreate(id string, shard uint32, create func() (V, error)) (V, error) {
	if v, ok := m.get(id, shard); ok {
		return v, nil
	}
	s := &m.s[shard%stripes]
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[id]; ok {
		return v, nil
	}
	v, err := create()
	if err != nil {
		return v, err
	}
	if s.m == nil {
		s.m = make(map[string]V, tableHint)
	}
	s.m[id] = v
	m.n.Add(1)
	return v, nil
}

// put stores v under id, evicting an arbitrary entry of the stripe when it
// already holds max entries (max <= 0 means no bound).
func (m *striped[V]) put(id string, shard uint32, v V, max int) {
	s := &m.s[shard%stripes]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]V, tableHint)
	}
	if _, ok := s.m[id]; !ok && max > 0 && len(s.m) >= max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[id] = v
	s.mu.Unlock()
}

// deleteIf removes id if keep reports false for its value.
func (m *striped[V]) deleteIf(id string, shard uint32, drop func(V) bool) bool {
	s := &m.s[shard%stripes]
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[id]; ok && drop(v) {
		delete(s.m, id)
		m.n.Add(-1)
		return true
	}
	return false
}

// deleteWhere removes every entry for which drop reports true, calling
// drop under the entry's stripe lock.
func (m *striped[V]) deleteWhere(drop func(id string, v V) bool) {
	for i := range m.s {
		s := &m.s[i]
		s.mu.Lock()
		for id, v := range s.m {
			if drop(id, v) {
				delete(s.m, id)
				m.n.Add(-1)
			}
		}
		s.mu.Unlock()
	}
}

// each calls f for every entry, holding one stripe's read lock at a time.
func (m *striped[V]) each(f func(id string, v V)) {
	for i := range m.s {
		s := &m.s[i]
		s.mu.RLock()
		for id, v := range s.m {
			f(id, v)
		}
		s.mu.RUnlock()
	}
}

// sample calls f for up to n entries: those of a stripe chosen at random
// and, if it holds fewer, of the stripes after it. Within a stripe, Go's
// map iteration starts at a random entry.
func (m *striped[V]) sample(n int, f func(id string, v V)) {
	start := rand.IntN(stripes)
	for i := 0; i < stripes && n > 0; i++ {
		s := &m.s[(start+i)%stripes]
		s.mu.RLock()
		for id, v := range s.m {
			f(id, v)
			if n--; n == 0 {
				break
			}
		}
		s.mu.RUnlock()
	}
}

// byCapability holds one value per capability: a striped map of
// activations or cached PIDs, the shards awaiting handoffs. Looking a
// capability up takes no lock: the map is copied on write.
type byCapability[T any] struct {
	// fresh makes the value of a capability added; nil: new(T).
	fresh func() *T
	mu    sync.Mutex // serialises additions to maps
	maps  atomic.Pointer[map[string]*T]
}

// of returns the value of capability, making it if create is set, or nil.
func (b *byCapability[T]) of(capability string, create bool) *T {
	if p := b.maps.Load(); p != nil {
		if v := (*p)[capability]; v != nil || !create {
			return v
		}
	} else if !create {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := map[string]*T{}
	if p := b.maps.Load(); p != nil {
		old = *p
	}
	if v := old[capability]; v != nil {
		return v
	}
	next := make(map[string]*T, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	v := new(T)
	if b.fresh != nil {
		v = b.fresh()
	}
	next[capability] = v
	b.maps.Store(&next)
	return v
}

// all calls f for every capability's value.
func (b *byCapability[T]) all(f func(capability string, v *T)) {
	if p := b.maps.Load(); p != nil {
		for c, v := range *p {
			f(c, v)
		}
	}
}
