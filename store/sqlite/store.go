package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/meshrun/mesh/store"
)

// Store is a store.Store in one SQLite database file. It is safe for
// concurrent use by any number of goroutines, and several Stores, in one
// process or in several, may share one file. The zero value is not
// usable; call Open.
type Store struct {
	path string
	opts options

	// writes has one connection: every write of this Store goes through
	// the committer goroutine (commit.go), which holds it.
	writes *sql.DB
	// reads is a pool of connections for Load. In WAL mode readers
	// neither wait for the writer nor make it wait.
	reads *sql.DB

	insert, update, del, version *sql.Stmt // on writes
	load                         *sql.Stmt // on reads

	ops      chan *op      // to the committer
	maxBatch int           // the most writes of one transaction
	stop     chan struct{} // closed by Close once no operation is in flight
	done     chan struct{} // closed by the committer when it returns

	// mu guards closed and the start of operations: an operation starts
	// (inflight.Add) only under mu.RLock with closed false, so that Close,
	// having set closed under mu.Lock, waits for exactly the operations
	// that started.
	mu       sync.RWMutex
	closed   atomic.Bool // also read without mu, to refuse early
	inflight sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating it and its table if
// they do not exist, and returns a Store over it. The file is put in WAL
// mode (which it keeps); beside it SQLite keeps path-wal (the log, cut
// back to 16 MiB after a larger transaction) and path-shm.
//
// Open fails, with the store not opened, if the file cannot be opened or
// created, is not a SQLite database, is on a file system where WAL mode
// is not available, or stays locked by another connection past the busy
// timeout (a *BusyError).
func Open(path string, opts ...Option) (*Store, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("sqlite: open: empty path (SQLite would make a temporary database)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	s := &Store{path: abs, opts: o}
	if err := s.open(); err != nil {
		s.closeDBs()
		return nil, s.wrap("open", path, err)
	}
	s.ops = make(chan *op, opsQueue)
	s.maxBatch = max(1, maxBatch)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	go s.commitLoop()
	return s, nil
}

// dsn is the name the driver opens: a file: URI of the absolute path,
// escaped so that '?', '#' and '%' in it stay part of the name, with the
// settings every connection needs.
func (s *Store) dsn() string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", s.opts.busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous("+s.opts.sync.String()+")")
	// The WAL file keeps the size of its largest transaction unless
	// limited: after a write of a large record it is cut back to 16 MiB
	// when the log next starts over.
	q.Add("_pragma", "journal_size_limit(16777216)")
	// Defensive mode refuses, on our connections, the statements that can
	// corrupt a database (writable_schema and the like).
	q.Add("_defensive", "1")
	// A transaction takes the write lock when it begins, so that it never
	// fails half-way for want of it.
	q.Add("_txlock", "immediate")
	return "file:" + (&url.URL{Path: filepath.ToSlash(s.path)}).EscapedPath() + "?" + q.Encode()
}

func (s *Store) open() error {
	c, err := sqlite.NewConnector(s.dsn())
	if err != nil {
		return err
	}
	s.writes = sql.OpenDB(c)
	s.writes.SetMaxOpenConns(1)
	s.writes.SetMaxIdleConns(1)
	s.writes.SetConnMaxIdleTime(0)
	s.reads = sql.OpenDB(c)
	readers := max(2, runtime.GOMAXPROCS(0))
	s.reads.SetMaxOpenConns(readers)
	s.reads.SetMaxIdleConns(readers)

	ctx := context.Background()
	// journal_mode=WAL answers the mode the database is in after it: an
	// answer other than "wal" means the file system cannot hold the
	// shared memory that WAL needs, and processes sharing the file would
	// not be safe.
	var mode string
	if err := s.writes.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q after setting WAL: the file system does not support it", mode)
	}
	if _, err := s.writes.ExecContext(ctx, schema); err != nil {
		return err
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		db   *sql.DB
		sql  string
	}{
		{&s.insert, s.writes, insertSQL},
		{&s.update, s.writes, updateSQL},
		{&s.del, s.writes, deleteSQL},
		{&s.version, s.writes, versionSQL},
		{&s.load, s.reads, loadSQL},
	} {
		if *p.stmt, err = p.db.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	return nil
}

// closeDBs closes the statements and the pools, once nothing uses them.
func (s *Store) closeDBs() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.insert, s.update, s.del, s.version, s.load} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*sql.DB{s.reads, s.writes} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// enter starts an operation, or reports that the store is closed.
func (s *Store) enter() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, k store.Key) (store.Record, error) {
	if s.closed.Load() {
		return store.Record{}, fmt.Errorf("%w: load %q", store.ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("sqlite: load %q: %w", k.String(), err)
	}
	if err := k.Validate(); err != nil {
		return store.Record{}, err
	}
	if !s.enter() {
		return store.Record{}, fmt.Errorf("%w: load %q", store.ErrClosed, k.String())
	}
	defer s.inflight.Done()

	var version, live, typ, format, data any
	err := s.load.QueryRowContext(ctx, []byte(k.Capability), []byte(k.ID)).Scan(&version, &live, &typ, &format, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Record{}, fmt.Errorf("%w: %q at version 0", store.ErrNotFound, k.String())
	case err != nil:
		if ctx.Err() != nil {
			return store.Record{}, fmt.Errorf("sqlite: load %q: %w", k.String(), ctx.Err())
		}
		return store.Record{}, s.wrap("load", k.String(), err)
	}
	rec, isLive, err := decodeRecord(k, version, live, typ, format, data)
	if err != nil {
		return store.Record{}, err
	}
	if !isLive {
		return rec, fmt.Errorf("%w: %q at version %d", store.ErrNotFound, k.String(), rec.Version)
	}
	return rec, nil
}

// Save implements store.Store. It returns once the write is committed
// (with SyncFull, on the disk). A version past the largest SQLite integer
// (2^63 - 1) cannot be stored: a Save of it after a key at 2^63 - 1 fails
// with an error wrapping store.ErrTooLarge.
func (s *Store) Save(ctx context.Context, k store.Key, rec store.Record) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: save %q", store.ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: save %q: %w", k.String(), err)
	}
	if err := k.Validate(); err != nil {
		return err
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("sqlite: save %q: %w", k.String(), err)
	}
	// The write may outlive this call if ctx ends first: it owns a copy.
	rec.Data = bytes.Clone(rec.Data)
	return s.write(ctx, &op{ctx: ctx, key: k, rec: rec})
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, k store.Key, version uint64) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: delete %q", store.ErrClosed, k.String())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: delete %q: %w", k.String(), err)
	}
	if err := k.Validate(); err != nil {
		return err
	}
	return s.write(ctx, &op{ctx: ctx, key: k, del: true, rec: store.Record{Version: version}})
}

// write hands o to the committer and waits for its outcome or for ctx.
func (s *Store) write(ctx context.Context, o *op) error {
	if !s.enter() {
		return fmt.Errorf("%w: %s %q", store.ErrClosed, o.name(), o.key.String())
	}
	defer s.inflight.Done()
	o.done = make(chan error, 1)
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return fmt.Errorf("sqlite: %s %q: %w", o.name(), o.key.String(), ctx.Err())
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		select {
		case err := <-o.done: // done as well: say which
			return err
		default:
		}
		// The write may still be made: the caller reloads to learn.
		return fmt.Errorf("sqlite: %s %q: %w", o.name(), o.key.String(), ctx.Err())
	}
}

// Close implements store.Store. It waits for the operations in flight,
// then closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return fmt.Errorf("%w: close", store.ErrClosed)
	}
	s.closed.Store(true)
	s.mu.Unlock()
	s.inflight.Wait()
	close(s.stop)
	<-s.done
	if err := s.closeDBs(); err != nil {
		return fmt.Errorf("sqlite: close %q: %w", s.path, err)
	}
	return nil
}

// wrap turns a driver error into the store's: a lock held past the busy
// timeout becomes a *BusyError, a damaged file wraps store.ErrCorrupt.
// what is the key of the operation, or the path for "open".
func (s *Store) wrap(op, what string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY:
			return &BusyError{Op: op, Key: what, Timeout: s.opts.busyTimeout, Err: err}
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: sqlite: %s %q: %w", store.ErrCorrupt, op, what, err)
		}
	}
	return fmt.Errorf("sqlite: %s %q: %w", op, what, err)
}

// errVersionSpace is the error of a write past the largest version SQLite
// holds.
func errVersionSpace(o *op) error {
	return fmt.Errorf("sqlite: %s %q: %w: version %d is the largest a SQLite integer holds", o.name(), o.key.String(), store.ErrTooLarge, int64(math.MaxInt64))
}
