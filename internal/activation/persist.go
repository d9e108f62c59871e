package activation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/store"
)

// ErrStore reports a process whose state the node's store could not load
// or save.
var ErrStore = errors.New("mesh: store failed")

// load makes the process from the state the store holds for it, if the
// table has a store and the process can restore a state: before its first
// message, so that a process restarted anywhere (after a crash, a
// passivation, a handoff that failed) goes on from its last save. A
// store that cannot answer fails the message and leaves the process
// unmade, so that the next message tries again.
func (a *activation) load() error {
	st := a.t.cfg.Store
	if st == nil {
		return nil
	}
	if _, ok := a.proc.(actor.Snapshotter); !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.t.cfg.StoreTimeout)
	defer cancel()
	// A previous activation of the ID on this node that passivated may
	// still be saving: what it writes is what this one must read.
	for _, ch := range a.t.savingOf(a.ctx.capability, a.ctx.id, a.e) {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	rec, err := st.Load(ctx, store.Key{Capability: a.ctx.capability, ID: a.ctx.id})
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.version = rec.Version // past a deletion, if any
		return nil
	case err != nil:
		return fmt.Errorf("%w: loading %s/%s: %w", ErrStore, a.ctx.capability, a.ctx.id, err)
	}
	state := &wire.State{Id: a.ctx.id, Type: rec.Type, Data: rec.Data, Format: rec.Format, Version: rec.Version}
	if err := a.restoreFrom(state); err != nil {
		// A state this version of the process cannot read (a format
		// from a newer release, say): starting empty would overwrite it
		// with the next save, for good. The message fails instead, and
		// so does every one until a release that reads it runs.
		a.storeResult("refused")
		a.t.cfg.Logger.Warn("a stored state could not be restored; the process's messages fail until it can be",
			"capability", a.ctx.capability, "id", a.ctx.id, "version", rec.Version, "format", rec.Format, "err", err)
		return fmt.Errorf("%w: %s/%s: the stored state (version %d, format %d) could not be restored: %w",
			ErrStore, a.ctx.capability, a.ctx.id, rec.Version, rec.Format, err)
	}
	a.e.origin.Store(int32(Stored))
	a.storeResult("loaded")
	a.version = rec.Version
	return nil
}

// save writes the process's state to the store, if the table has one and
// the process has a state: when it passivates, and when it stops with no
// node to hand it to. A save the store refuses as stale means another
// activation of the ID wrote since this one read: this one's state is
// dropped, not written over the newer.
func (a *activation) save() {
	if err := a.write(); err != nil {
		a.t.cfg.Logger.Log(context.Background(), levelOf(err), "could not save a process's state; it is lost",
			"capability", a.ctx.capability, "id", a.ctx.id, "err", err)
	}
}

// persist saves the state of a process that saves on change, after a
// message that changed it, and fails the message if it cannot: the
// process is then dropped, so that its next message makes it again from
// what the store holds. Nothing is answered as done that the store does
// not hold; a change whose save failed may still be stored (a write in
// flight when its server went), as its caller, told ErrStore, is left to
// find out.
func (a *activation) persist() error {
	err := a.write()
	if err != nil {
		a.proc = nil
		a.t.cfg.Logger.Log(context.Background(), levelOf(err), "could not save a process's state; the message fails and the process is made again from its last save",
			"capability", a.ctx.capability, "id", a.ctx.id, "err", err)
	}
	return err
}

// write snapshots the process and saves the state under the version after
// the one the activation last read or wrote. It counts the outcome, and
// returns an error wrapping ErrStore if the state is not saved. A process
// without a state, or a table without a store, writes nothing.
func (a *activation) write() error {
	st := a.t.cfg.Store
	if st == nil || a.proc == nil {
		return nil
	}
	snap, err := a.snapshot()
	if err != nil {
		a.storeResult("failed")
		return fmt.Errorf("%w: %s/%s: could not snapshot the process: %w", ErrStore, a.ctx.capability, a.ctx.id, err)
	}
	if snap == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.t.cfg.StoreTimeout)
	defer cancel()
	rec := store.Record{Version: a.version + 1, Type: snap.Type, Format: snap.Format, Data: snap.Data}
	err = st.Save(ctx, store.Key{Capability: a.ctx.capability, ID: a.ctx.id}, rec)
	switch {
	case err == nil:
		a.version = rec.Version
		a.storeResult("saved")
		return nil
	case errors.Is(err, store.ErrStale):
		// Another activation of the ID wrote since this one read: it is
		// the stale one.
		a.storeResult("stale")
	default:
		a.storeResult("failed")
	}
	return fmt.Errorf("%w: saving %s/%s: %w", ErrStore, a.ctx.capability, a.ctx.id, err)
}

// levelOf is the level a failed save is logged at: Info for a stale
// activation's (another one holds the newer state; this is how a split
// view ends), Warn for a store that failed.
func levelOf(err error) slog.Level {
	if errors.Is(err, store.ErrStale) {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func (a *activation) storeResult(result string) {
	if a.t.cfg.Hooks.Store != nil {
		a.t.cfg.Hooks.Store(a.ctx.capability, result)
	}
}

// saveMark marks a save under way: done is closed when it ends; by is
// the activation that saves.
type saveMark struct {
	done chan struct{}
	by   *entry
}

// saving marks (capability, id) as being saved by the activation e, which
// passivates, and returns the channel its stop closes when done. Saves of
// one ID by successive activations may overlap (one passivates while
// the next, made meanwhile, is evicted before its first message): each
// has its mark, and a new activation waits for them all.
func (t *Table) saving(capability, id string, e *entry) chan struct{} {
	ch := make(chan struct{})
	k := store.Key{Capability: capability, ID: id}
	t.savingMu.Lock()
	t.saves[k] = append(t.saves[k], saveMark{ch, e})
	t.savingMu.Unlock()
	return ch
}

// savingOf returns the channels of the saves of (capability, id) under
// way on this node but self's own (an activation told to passivate may
// still handle a message that was ahead of the stop).
func (t *Table) savingOf(capability, id string, self *entry) []chan struct{} {
	t.savingMu.Lock()
	defer t.savingMu.Unlock()
	var chs []chan struct{}
	for _, m := range t.saves[store.Key{Capability: capability, ID: id}] {
		if m.by != self {
			chs = append(chs, m.done)
		}
	}
	return chs
}

// saveDone ends the save that ch marks.
func (t *Table) saveDone(capability, id string, ch chan struct{}) {
	t.unmark(store.Key{Capability: capability, ID: id}, ch)
	close(ch)
}

// saveAbandoned ends the save ch marks, whose activation had stopped
// before it was told to passivate: there is nothing to wait for.
func (t *Table) saveAbandoned(ch chan struct{}) {
	t.savingMu.Lock()
	var key store.Key
	for k, ms := range t.saves {
		if slices.ContainsFunc(ms, func(m saveMark) bool { return m.done == ch }) {
			key = k
		}
	}
	t.savingMu.Unlock()
	t.unmark(key, ch)
	close(ch)
}

// unmark removes the mark ch of k's saves.
func (t *Table) unmark(k store.Key, ch chan struct{}) {
	t.savingMu.Lock()
	defer t.savingMu.Unlock()
	ms := slices.DeleteFunc(t.saves[k], func(m saveMark) bool { return m.done == ch })
	if len(ms) == 0 {
		delete(t.saves, k)
	} else {
		t.saves[k] = ms
	}
}
