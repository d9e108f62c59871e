package activation

import (
	"cmp"
	"slices"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
)

// Passivation is how a capability lets go of its processes on one node.
type Passivation struct {
	// Idle stops a process that has not begun to handle a message for
	// that long; zero never does.
	Idle time.Duration
	// Max stops the least recently used processes past that many on the
	// node, down to nine tenths of it; zero bounds nothing. The bound is
	// kept by a sweep, which runs at once when a new activation passes
	// it: it can be passed by the activations made while the sweep runs.
	Max int
}

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

// crowd wakes the sweeper when capability holds more activations than its
// Max allows, or has an idle timeout shorter than the sweep interval
// allows for.
func (t *Table) crowd(capability string, m *striped[*entry]) {
	if t.cfg.Passivation == nil {
		return
	}
	p := t.cfg.Passivation(capability)
	soon := p.Idle > 0 && int64(max(p.Idle/4, minSweep)) < t.sweepEvery.Load()
	if soon || p.Max > 0 && m.n.Load() > int64(p.Max) {
		select {
		case t.crowded <- struct{}{}:
		default:
		}
	}
}

// passivate stops every activation idle past its capability's timeout and
// the least recently used past its Max, and returns when to sweep next.
func (t *Table) passivate(now time.Time) time.Duration {
	next := maxSweep
	if t.cfg.Passivation == nil {
		return next
	}
	type victim struct {
		id string
		e  *entry
	}
	t.acts.all(func(c string, m *striped[*entry]) {
		p := t.cfg.Passivation(c)
		if p.Idle <= 0 && p.Max <= 0 {
			return
		}
		if p.Idle > 0 {
			next = min(next, max(p.Idle/4, minSweep))
		}
		var idle, live []victim
		cutoff := now.Add(-p.Idle).UnixNano()
		m.each(func(id string, e *entry) {
			if p.Idle > 0 && e.lastUsed.Load() < cutoff {
				idle = append(idle, victim{id, e})
			} else if p.Max > 0 {
				live = append(live, victim{id, e})
			}
		})
		if excess := len(live) - p.Max; p.Max > 0 && excess > 0 {
			// The least recently used go, and a tenth of the bound more,
			// so that a node at its bound sweeps once per tenth of it new
			// activations rather than for every one.
			excess = min(len(live), excess+p.Max/10)
			slices.SortFunc(live, func(a, b victim) int { return cmp.Compare(a.e.lastUsed.Load(), b.e.lastUsed.Load()) })
			idle = append(idle, live[:excess]...)
		}
		type stopped struct {
			pid   *pa.PID
			saved chan struct{}
		}
		var stops []stopped
		for _, v := range idle {
			var saved chan struct{}
			if t.cfg.Store != nil {
				// Before the entry goes: the next activation of the ID
				// must find the save it waits for.
				saved = t.saving(c, v.id)
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
	})
	return next
}
