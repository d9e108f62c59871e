// Package sqlite is mesh's embedded durable store: a store.Store in one
// SQLite database file, in pure Go (modernc.org/sqlite, no cgo). Several
// node processes on one machine may share the file.
//
// # Usage
//
//	st, err := sqlite.Open("state.db")
//	if err != nil {
//		return err
//	}
//	node, err := mesh.Start(ctx, mesh.Config{Store: st, ...})
//
// The node does not close the store: close it after the node.
//
// # What it guarantees
//
// The contract of package store, checked by storetest: versions fence
// stale writers, a Delete leaves a tombstone that keeps the key's
// version, keys are kept apart byte for byte (both fields are BLOBs). A
// Save or Delete that returned nil is committed: every Load after it, from
// any Store on the file in any process, sees it. One refused (stale, too
// large, corrupt, busy, closed, a context ended before the call) changed
// nothing; one that failed otherwise (its context ended while it was
// queued or committing, an I/O error of the commit) may have been made,
// and a Load tells.
//
// # Durability
//
// The database is in WAL mode. Open's WithSync chooses what a returned
// Save survives:
//
//   - SyncFull (the default): the end of the process (kill -9 included),
//     a crash of the operating system and a power loss, as far as the disk
//     keeps what it reported synced. One fsync per commit.
//   - SyncNormal: the end of the process, kill -9 included. A crash of the
//     operating system or a power loss may lose the writes since the last
//     checkpoint (SQLite's, about every 4 MiB written), never corrupting
//     the file.
//
// # Several processes
//
// Every Store, in one process or several, is a set of SQLite connections
// to the file; SQLite's locks (on the file and its -shm shared memory)
// keep them apart. Readers never wait for writers. Writers take the
// database's one write lock in turn: a write waits up to the busy timeout
// (WithBusyTimeout, 5 s by default) for another connection's transaction
// to end, and past it fails with a *BusyError (ErrBusy), having changed
// nothing. Versions are checked inside the write's transaction, so a
// stale writer in any process gets a *store.StaleError with the version
// stored at that instant. The file must be on a local file system: WAL's
// shared memory does not work over network file systems, and Open
// refuses a file it cannot put in WAL mode.
//
// # Errors
//
// Open fails (the store is not opened) on a path that cannot be opened or
// created, a file that is not a SQLite database, or a lock held past the
// busy timeout. A row that cannot be read back as a record (a negative
// version, a column of the wrong type, a damaged page) is reported by
// Load, Save and Delete as an error wrapping store.ErrCorrupt, never as
// a record or a missing key. A write never replaces a row whose version
// cannot be read, so the row stays for an operator; a row whose version
// is sound but whose other columns are damaged is replaced by a Save of
// the next version. Other failures of the database wrap the driver's
// error.
//
// # Concurrency
//
// A Store is safe for concurrent use by any number of goroutines. Loads
// run on a pool of connections, at most GOMAXPROCS (and at least 2) at a
// time. Writes go to one goroutine that commits them in groups (commit.go
// says why and what it measured), each write checked on its own, in the
// order they arrived. Close waits for the operations in flight (a write
// waiting for a lock, up to the busy timeout).
package sqlite
