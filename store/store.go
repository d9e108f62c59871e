package store

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// MaxCapabilityLen is the longest capability name, in bytes: the same bound
// as capability.MaxNameLen (capability/capability.go), repeated here
// because store imports no mesh package.
const MaxCapabilityLen = 64

// MaxIDLen is the longest ID, in bytes: the same bound as mesh.MaxIDLen
// (config.go in the root package), repeated here because store imports no
// mesh package.
const MaxIDLen = 256

// MaxTypeLen is the longest Record.Type, in bytes. Protobuf full names are
// far shorter; the bound only keeps a broken caller from storing a
// megabyte of type name.
const MaxTypeLen = 512

// MaxDataLen is the largest Record.Data, in bytes: 64 MiB, the largest
// payload a mesh node can be configured to carry (Config.MaxPayload), so
// any state that can travel between nodes can also be stored.
const MaxDataLen = 64 << 20

// Key names the state of one process: its capability and its ID.
//
// A valid Key has a Capability of 1 to MaxCapabilityLen bytes of ASCII
// letters, digits, '.', '-' and '_' (case-sensitive, as mesh capability
// names are) and an ID of 1 to MaxIDLen bytes of valid UTF-8. IDs are
// compared byte for byte: any valid UTF-8 is allowed, NUL and newlines
// included, and no two different strings name the same key (no case
// folding, no Unicode normalization, no trimming).
type Key struct {
	Capability string
	ID         string
}

// String returns the key as capability/ID. Because a valid capability
// holds no '/', the text names one key only.
func (k Key) String() string { return k.Capability + "/" + k.ID }

// Validate returns nil if k is a valid Key, else an error wrapping
// ErrInvalidKey that says what is wrong.
func (k Key) Validate() error {
	c := k.Capability
	if c == "" || len(c) > MaxCapabilityLen {
		return fmt.Errorf("%w: capability %q of %d bytes, must be 1 to %d", ErrInvalidKey, c, len(c), MaxCapabilityLen)
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '-' || b == '_'
		if !ok {
			return fmt.Errorf("%w: capability %q has %q at byte %d", ErrInvalidKey, c, b, i)
		}
	}
	if k.ID == "" || len(k.ID) > MaxIDLen {
		return fmt.Errorf("%w: ID of %d bytes, must be 1 to %d", ErrInvalidKey, len(k.ID), MaxIDLen)
	}
	if !utf8.ValidString(k.ID) {
		return fmt.Errorf("%w: ID %q is not valid UTF-8", ErrInvalidKey, k.ID)
	}
	return nil
}

// Record is the stored state of one process.
type Record struct {
	// Version is the key's write counter: 1 for the first write, one more
	// for every write after it. A Delete is a write too (see Store).
	Version uint64
	// Type is the full protobuf name of the snapshot message, e.g.
	// "chat.v1.RoomState"; at most MaxTypeLen bytes. The store does not
	// interpret it.
	Type string
	// Format is the process's own version of its snapshot's layout, so
	// that a newer node can refuse or convert an older format. The store
	// does not interpret it.
	Format uint32
	// Data is the snapshot's bytes; at most MaxDataLen. Empty data may
	// come back from Load as nil or as an empty slice.
	Data []byte
}

// Validate returns nil if r fits a store's bounds, else an error wrapping
// ErrTooLarge. It does not look at Version.
func (r Record) Validate() error {
	if len(r.Type) > MaxTypeLen {
		return fmt.Errorf("%w: type name of %d bytes, limit %d", ErrTooLarge, len(r.Type), MaxTypeLen)
	}
	if len(r.Data) > MaxDataLen {
		return fmt.Errorf("%w: data of %d bytes, limit %d", ErrTooLarge, len(r.Data), MaxDataLen)
	}
	return nil
}

// Store keeps the state of processes by Key, with optimistic concurrency:
// every write carries the version it expects, and a write whose version
// does not follow the stored one is refused with a *StaleError, which
// wraps ErrStale. The package documentation describes the contract in
// full; storetest checks it.
//
// Every key has a version, 0 until its first write. A record, once
// written, is held until it is deleted; a deleted key keeps its version,
// so versions never go back.
//
// Implementations are safe for concurrent use by any number of
// goroutines. Operations on one key are linearizable: each takes effect
// at one instant between its call and its return, so of several
// concurrent Saves offering the same version exactly one succeeds.
//
// Every method checks its context: if ctx has ended when the method is
// called, it changes nothing and returns an error wrapping ctx.Err(). A
// ctx that ends while a write is in flight leaves the write either done
// or not done (a store that talks to a server may not know which); the
// error then wraps ctx.Err() and the caller reloads to learn the outcome.
//
// After Close, every method, Close included, returns an error wrapping
// ErrClosed, whatever its arguments and its context.
type Store interface {
	// Load returns the record stored for k. If k holds no record it
	// returns an error wrapping ErrNotFound and a Record whose Version is
	// the key's version (0 if it was never written, the version its
	// Delete left if it was deleted) and whose other fields are zero: the
	// next Save must offer that Version + 1. On any other error the
	// Record is zero.
	Load(ctx context.Context, k Key) (Record, error)

	// Save stores rec for k if rec.Version is the key's version + 1; the
	// stored record is then exactly rec. Otherwise it changes nothing and
	// returns a *StaleError (wrapping ErrStale) with the stored version
	// and rec.Version. Save keeps no reference to rec.Data.
	Save(ctx context.Context, k Key, rec Record) error

	// Delete removes k's record if the key's version is version: the key
	// then holds no record and its version becomes version + 1, so that
	// no writer that saw the record can save over the deletion. If k holds
	// no record and its version is version (0 for a key never written),
	// Delete does nothing and succeeds. Otherwise it changes nothing and
	// returns a *StaleError.
	Delete(ctx context.Context, k Key, version uint64) error

	// Close releases the store. Operations that run concurrently with
	// Close either complete or return ErrClosed; once Close has returned,
	// every method returns an error wrapping ErrClosed.
	Close() error
}
