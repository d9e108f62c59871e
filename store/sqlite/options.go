package sqlite

import (
	"fmt"
	"math"
	"time"
)

// DefaultBusyTimeout is how long a write waits for another connection, in
// this process or another, to release the database's write lock before it
// fails with a *BusyError.
const DefaultBusyTimeout = 5 * time.Second

// Sync is how long a commit waits for the disk: SQLite's PRAGMA
// synchronous, in WAL mode. Both settings keep every committed write
// through the end of the process, kill -9 included, and neither can
// corrupt the database; they differ on a power loss or a crash of the
// operating system.
type Sync int

const (
	// SyncFull (the default) syncs the write-ahead log to the disk before
	// a commit returns: a Save that returned nil survives a power loss, as
	// far as the disk keeps what it reported written. It costs one fsync
	// per commit (and group commit shares it among concurrent writers).
	SyncFull Sync = iota
	// SyncNormal syncs the write-ahead log only when it is copied into the
	// database (a checkpoint). A Save that returned nil survives the end
	// of the process, kill -9 included, since the operating system holds
	// the written pages; a power loss or an operating system crash may
	// roll the database back to its last checkpoint, losing the Saves
	// since, and leaves it consistent. SQLite checkpoints once the log
	// holds 1,000 pages (about 4 MiB), later while a reader still uses
	// older pages.
	SyncNormal
)

func (s Sync) String() string {
	switch s {
	case SyncFull:
		return "FULL"
	case SyncNormal:
		return "NORMAL"
	}
	return fmt.Sprintf("Sync(%d)", int(s))
}

// Option changes one setting of Open.
type Option func(*options)

// WithSync sets how long a commit waits for the disk; SyncFull if not
// given.
func WithSync(s Sync) Option { return func(o *options) { o.sync = s } }

// WithBusyTimeout sets how long a write, and Open, wait for the write lock
// that another connection holds (DefaultBusyTimeout if not given). It
// must be between 1 ms and about 24 days (SQLite counts it in
// milliseconds, as a 32-bit integer).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// options are the settings of one Store.
type options struct {
	sync        Sync
	busyTimeout time.Duration
}

func newOptions(opts []Option) (options, error) {
	o := options{sync: SyncFull, busyTimeout: DefaultBusyTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.sync != SyncFull && o.sync != SyncNormal {
		return o, fmt.Errorf("sqlite: unknown %v: use SyncFull or SyncNormal", o.sync)
	}
	if o.busyTimeout < time.Millisecond || o.busyTimeout.Milliseconds() > math.MaxInt32 {
		return o, fmt.Errorf("sqlite: busy timeout %v out of range: 1ms to %v", o.busyTimeout, time.Duration(math.MaxInt32)*time.Millisecond)
	}
	return o, nil
}
