package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Memory is a Store that keeps records in the memory of the process: they
// survive the passivation or the move of an activation, not the end of the
// process. It is meant for tests and for a single node that needs no
// durability. The zero value is not usable; call NewMemory.
//
// Save copies Data in and Load copies it out, so neither the caller's
// slice nor the returned one is shared with the store. A deleted key keeps
// an entry of its key and version (no data), so memory grows with the
// number of keys ever written, not only the number held.
type Memory struct {
	// One lock for every key: an operation holds it only for a map
	// access and a comparison (Data is copied outside it), and one lock
	// makes every operation linearizable without more machinery.
	mu sync.RWMutex
	// guards keys, and the setting of closed (read without the lock too,
	// so that a closed store says so before it looks at the arguments)
	keys   map[Key]entry
	closed atomic.Bool
}

// entry is what Memory holds for a key. Its Data is never modified once
// stored: Save replaces the entry, so Load may copy it outside the lock.
type entry struct {
	rec  Record // only rec.Version is set when !live
	live bool   // false once deleted
}

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory {
	return &Memory{keys: make(map[Key]entry)}
}

var _ Store = (*Memory)(nil)

// Load implements Store.
func (m *Memory) Load(ctx context.Context, k Key) (Record, error) {
	if m.closed.Load() {
		return Record{}, fmt.Errorf("%w: load %q", ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("store: load %q: %w", k.String(), err)
	}
	if err := k.Validate(); err != nil {
		return Record{}, err
	}
	m.mu.RLock()
	closed := m.closed.Load()
	e := m.keys[k]
	m.mu.RUnlock()
	if closed {
		return Record{}, fmt.Errorf("%w: load %q", ErrClosed, k.String())
	}
	if !e.live {
		return Record{Version: e.rec.Version}, fmt.Errorf("%w: %q at version %d", ErrNotFound, k.String(), e.rec.Version)
	}
	e.rec.Data = bytes.Clone(e.rec.Data)
	return e.rec, nil
}

// Save implements Store.
func (m *Memory) Save(ctx context.Context, k Key, rec Record) error {
	if m.closed.Load() {
		return fmt.Errorf("%w: save %q", ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: save %q: %w", k.String(), err)
	}
	if err := k.Validate(); err != nil {
		return err
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("store: save %q: %w", k.String(), err)
	}
	rec.Data = bytes.Clone(rec.Data)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return fmt.Errorf("%w: save %q", ErrClosed, k.String())
	}
	// ctx may have ended while this call waited for the lock.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: save %q: %w", k.String(), err)
	}
	stored := m.keys[k].rec.Version
	if rec.Version != stored+1 {
		return &StaleError{Op: "save", Key: k, Stored: stored, Offered: rec.Version}
	}
	m.keys[k] = entry{rec: rec, live: true}
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, k Key, version uint64) error {
	if m.closed.Load() {
		return fmt.Errorf("%w: delete %q", ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete %q: %w", k.String(), err)
	}
	if err := k.Validate(); err != nil {
		return err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return fmt.Errorf("%w: delete %q", ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete %q: %w", k.String(), err)
	}
	e := m.keys[k]
	if e.rec.Version != version {
		return &StaleError{Op: "delete", Key: k, Stored: e.rec.Version, Offered: version}
	}
	if !e.live {
		return nil
	}
	m.keys[k] = entry{rec: Record{Version: version + 1}}
	return nil
}

// Close implements Store. It drops every record.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return fmt.Errorf("%w: close", ErrClosed)
	}
	m.closed.Store(true)
	m.keys = nil
	return nil
}
