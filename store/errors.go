package store

import (
	"errors"
	"fmt"
)

// Errors returned by stores. Match them with errors.Is: every error a Store
// returns wraps one of these, or the context's error, or (for a store
// backed by a server) the driver's error for an error the server reported.
var (
	// ErrNotFound reports a Load of a key that holds no record: never
	// written, or deleted.
	ErrNotFound = errors.New("store: not found")
	// ErrStale reports a Save or Delete whose version does not match the
	// stored one: another writer has written the key since this one last
	// read or wrote it. It comes as a *StaleError.
	ErrStale = errors.New("store: stale version")
	// ErrClosed reports a call on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt reports stored bytes that a store cannot read back as a
	// Record (a damaged file or row). The in-memory store never returns it.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrInvalidKey reports a Key that Key.Validate refuses: an empty or
	// invalid capability, an empty ID, an ID longer than MaxIDLen or not
	// valid UTF-8.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrUnavailable reports a store backed by a server that cannot
	// reach it, or whose connection failed during the call (the server
	// stopped, restarted, or is out of connections or disk). A read
	// returned nothing; a write may or may not have been done, as when a
	// context ends mid-write: reload to learn which. The in-memory store
	// never returns it.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrTooLarge reports a Record over the bounds: Data longer than
	// MaxDataLen or Type longer than MaxTypeLen. Nothing is written.
	ErrTooLarge = errors.New("store: record too large")
)

// StaleError is the error of a refused Save or Delete. It wraps ErrStale.
type StaleError struct {
	// Op is "save" or "delete".
	Op string
	// Key is the key written.
	Key Key
	// Stored is the key's version in the store when the write was refused.
	Stored uint64
	// Offered is the version the write carried: Record.Version for a
	// Save, which needed Stored + 1; the version argument for a Delete,
	// which needed Stored.
	Offered uint64
}

func (e *StaleError) Error() string {
	want := e.Stored
	if e.Op == "save" {
		want++
	}
	return fmt.Sprintf("store: stale %s of %q: version %d stored, %d offered, %d needed", e.Op, e.Key.String(), e.Stored, e.Offered, want)
}

// Unwrap returns ErrStale.
func (e *StaleError) Unwrap() error { return ErrStale }
