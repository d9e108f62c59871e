package activation

import (
	"slices"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
)

// Passivation is how a capability lets go of its processes on one node.
type Passivation struct {
	// Idle stops a process that has not begun to handle a message for
	// that long; zero never does. A sweep finds them, every quarter of
	// the shortest idle timeout (within minSweep and maxSweep).
	Idle time.Duration
	// Max bounds the processes on the node; zero bounds nothing. Each new
	// activation past it stops the least recently used of a sample of
	// evictSample others (an approximation of the least recently used of
	// all, as Redis evicts keys), at once, on the goroutine that made it:
	// however fast activations come, the node holds Max, and beyond it
	// only those spared: activations waiting for a handed-off state, and
	// those made less than newGrace ago that have not handled a message
	// yet (made by other goroutines for their first message).
	Max int
}

// newGrace is how long a new activation that has not handled a message
// is spared by eviction.
const newGrace = time.Second

// evictSample is how many activations an eviction compares. Redis finds
// 5 close to a true LRU and 10 closer; the sample is read under one lock.
const evictSample = 8

// Bounds of the sweep interval: a quarter of the shortest idle timeout,
// within these.
const (
	minSweep = 50 * time.Millisecond
	maxSweep = 5 * time.Second
)

// sweeper stops idle and surplus activations until Close.
func (t *Table) sweeper() {
	timer := time.NewTimer(maxSweep)
	defer timer.Stop()
	for {
		select {
		case <-t.quit:
			return
		case <-timer.C:
		case <-t.crowded:
		}
		next := t.passivate(time.Now())
		t.sweepEvery.Store(int64(next))
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// crowd keeps capability within its Max, stopping the least recently used
// of a sample for each activation past it, except made (the one just made);
// and wakes the sweeper when the capability has an idle timeout shorter
// than the sweep interval allows for.
func (t *Table) crowd(capability string, m *striped[*entry], made *entry) {
	if t.cfg.Passivation == nil {
		return
	}
	p := t.cfg.Passivation(capability)
	if p.Max > 0 {
		if excess := int(m.n.Load()) - p.Max; excess > 0 {
			t.evict(capability, m, excess, made)
		}
	}
	if p.Idle > 0 && int64(max(p.Idle/4, minSweep)) < t.sweepEvery.Load() {
		select {
		case t.crowded <- struct{}{}:
		default:
		}
	}
}

// victim is an activation chosen to passivate.
type victim struct {
	id string
	e  *entry
}

// evict passivates up to n activations of capability, each the least
// recently used of a sample, never except.
func (t *Table) evict(capability string, m *striped[*entry], n int, except *entry) {
	victims := make([]victim, 0, n)
	young := time.Now().Add(-newGrace).UnixNano()
	for range n {
		var oldest victim
		m.sample(evictSample, func(id string, e *entry) {
			spared := e == except || e.waiting() || !e.served() && e.since > young
			if !spared && (oldest.e == nil || e.lastUsed.Load() < oldest.e.lastUsed.Load()) &&
				!slices.ContainsFunc(victims, func(v victim) bool { return v.e == e }) {
				oldest = victim{id, e}
			}
		})
		if oldest.e != nil {
			victims = append(victims, oldest)
		}
	}
	t.stopVictims(capability, m, victims)
}

// passivate stops every activation idle past its capability's timeout,
// and returns when to sweep next.
func (t *Table) passivate(now time.Time) time.Duration {
	next := maxSweep
	if t.cfg.Passivation == nil {
		return next
	}
	t.acts.all(func(c string, m *striped[*entry]) {
		p := t.cfg.Passivation(c)
		if p.Idle <= 0 {
			return
		}
		next = min(next, max(p.Idle/4, minSweep))
		var idle []victim
		cutoff := now.Add(-p.Idle).UnixNano()
		m.each(func(id string, e *entry) {
			if e.lastUsed.Load() < cutoff && !e.waiting() {
				idle = append(idle, victim{id, e})
			}
		})
		t.stopVictims(c, m, idle)
	})
	return next
}

// stopVictims removes the victims of capability from the table, unless
// another activation of the ID has replaced one, and tells them to stop,
// passivated.
func (t *Table) stopVictims(c string, m *striped[*entry], victims []victim) {
	type stopped struct {
		pid   *pa.PID
		saved chan struct{}
	}
	var stops []stopped
	for _, v := range victims {
		var saved chan struct{}
		if t.cfg.Store != nil {
			// Before the entry goes: the next activation of the ID must
			// find the save it waits for.
			saved = t.saving(c, v.id, v.e)
		}
		if m.deleteIf(v.id, v.e.shard, func(cur *entry) bool { return cur == v.e }) {
			stops = append(stops, stopped{v.e.pid, saved})
		} else if saved != nil {
			t.saveDone(c, v.id, saved)
		}
	}
	if len(stops) == 0 {
		return
	}
	st := newStopping()
	st.left.Add(int64(len(stops)))
	st.n = len(stops)
	for _, s := range stops {
		t.system.Root.Send(s.pid, &stopMsg{reason: actor.StopPassivated, stopping: st, saved: s.saved})
		if t.cfg.Hooks.Stopped != nil {
			t.cfg.Hooks.Stopped(c, actor.StopPassivated)
		}
	}
	st.finish()
	t.count.Add(-int64(len(stops)))
}
