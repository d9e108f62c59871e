package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// Open refuses what cannot be a store, before anything is served: no path,
// a directory, a missing directory, a file that is not a database, and
// settings out of range.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database\n"), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	badHeader := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(badHeader, append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xff}, 8192)...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		path    string
		opts    []sqlite.Option
		corrupt bool // the error wraps store.ErrCorrupt
	}{
		{name: "empty path", path: ""},
		{name: "a directory", path: dir},
		{name: "a missing directory", path: filepath.Join(dir, "missing", "state.db")},
		{name: "a text file", path: notDB, corrupt: true},
		{name: "a damaged header", path: badHeader, corrupt: true},
		{name: "busy timeout 0", path: filepath.Join(dir, "a.db"), opts: []sqlite.Option{sqlite.WithBusyTimeout(0)}},
		{name: "negative busy timeout", path: filepath.Join(dir, "b.db"), opts: []sqlite.Option{sqlite.WithBusyTimeout(-time.Second)}},
		{name: "busy timeout past int32 ms", path: filepath.Join(dir, "c.db"), opts: []sqlite.Option{sqlite.WithBusyTimeout(1 << 62)}},
		{name: "unknown sync", path: filepath.Join(dir, "d.db"), opts: []sqlite.Option{sqlite.WithSync(sqlite.Sync(7))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := sqlite.Open(c.path, c.opts...)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", c.path)
			}
			if c.corrupt && !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Open(%q): %v; want ErrCorrupt", c.path, err)
			}
			t.Logf("Open(%q): %v", c.path, err)
		})
	}
	// A refused file is left as it was.
	if b, err := os.ReadFile(notDB); err != nil || !bytes.HasPrefix(b, []byte("not a database\n")) {
		t.Errorf("the text file was changed: %v", err)
	}
}

// A path with characters that mean something in a URI names that file.
func TestOpenOddPath(t *testing.T) {
	dir := t.TempDir()
	name := "state ?x=1#frag %41 'q'.db"
	s := mustOpen(t, filepath.Join(dir, name))
	save(t, s, store.Key{Capability: "c", ID: "x"}, store.Record{Version: 1, Data: []byte("x")})
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Fatalf("the database is not the file named: %v", err)
	}
	if s.Path() != filepath.Join(dir, name) {
		t.Errorf("Path() = %q", s.Path())
	}
}

// What was saved, and what was deleted, is there after a Close and an
// Open; the versions go on from where they were.
func TestReopenKeepsData(t *testing.T) {
	path := dbPath(t)
	held, gone := store.Key{Capability: "counter", ID: "held"}, store.Key{Capability: "counter", ID: "gone"}
	s := mustOpen(t, path)
	for v := uint64(1); v <= 3; v++ {
		save(t, s, held, store.Record{Version: v, Type: "t.v1", Format: 2, Data: []byte{byte(v), 0}})
	}
	save(t, s, gone, store.Record{Version: 1, Data: []byte("x")})
	if err := s.Delete(t.Context(), gone, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, sqlite.WithSync(sqlite.SyncNormal))
	if got := load(t, s, held); got.Version != 3 || got.Type != "t.v1" || got.Format != 2 || !bytes.Equal(got.Data, []byte{3, 0}) {
		t.Fatalf("after reopening: %+v", got)
	}
	rec, err := s.Load(t.Context(), gone)
	if !errors.Is(err, store.ErrNotFound) || rec.Version != 2 {
		t.Fatalf("deleted key after reopening: %+v, %v; want ErrNotFound at version 2", rec, err)
	}
	wantStale(t, s.Save(t.Context(), gone, store.Record{Version: 1}), 2)
	wantStale(t, s.Save(t.Context(), held, store.Record{Version: 3}), 3)
	save(t, s, held, store.Record{Version: 4})
}

// Two Stores on one file (two nodes in one process, or a node and a tool)
// fence each other: a write one makes is seen by the other, and a stale
// write through either is refused; racing writers of one version through
// both, exactly one wins.
func TestTwoStoresOneFile(t *testing.T) {
	path := dbPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	ctx := t.Context()
	k := store.Key{Capability: "counter", ID: "shared"}

	save(t, a, k, store.Record{Version: 1, Data: []byte("from a")})
	wantStale(t, b.Save(ctx, k, store.Record{Version: 1, Data: []byte("from b")}), 1)
	if got := load(t, b, k); string(got.Data) != "from a" {
		t.Fatalf("b loads %q", got.Data)
	}
	save(t, b, k, store.Record{Version: 2, Data: []byte("from b")})
	wantStale(t, a.Save(ctx, k, store.Record{Version: 2, Data: []byte("from a")}), 2)
	wantStale(t, a.Delete(ctx, k, 1), 2)
	if err := a.Delete(ctx, k, 2); err != nil {
		t.Fatal(err)
	}
	wantStale(t, b.Save(ctx, k, store.Record{Version: 3}), 3)

	// Races through both stores.
	version := uint64(3)
	for round := range 20 {
		const writers = 16
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			s := []*sqlite.Store{a, b}[w%2]
			wg.Go(func() {
				<-start
				errs[w] = s.Save(ctx, k, store.Record{Version: version + 1, Data: []byte{byte(w)}})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both saved version %d", round, winner, w, version+1)
				}
				winner = w
				continue
			}
			wantStale(t, err, version+1)
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer saved version %d", round, version+1)
		}
		version++
		for _, s := range []*sqlite.Store{a, b} {
			if got := load(t, s, k); got.Version != version || !bytes.Equal(got.Data, []byte{byte(winner)}) {
				t.Fatalf("round %d: a store loads %+v; want version %d by writer %d", round, got, version, winner)
			}
		}
	}
	// Closing one leaves the other working.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	save(t, b, k, store.Record{Version: version + 1})
}

// A write lock held by another connection past the busy timeout fails a
// write with a *BusyError, and changes nothing; Loads go on meanwhile; a
// caller's deadline ends its wait before the busy timeout does; once the
// lock is released writes go through.
func TestBusy(t *testing.T) {
	path := dbPath(t)
	const timeout = 200 * time.Millisecond
	s := mustOpen(t, path, sqlite.WithBusyTimeout(timeout))
	ctx := t.Context()
	k := store.Key{Capability: "counter", ID: "locked"}
	save(t, s, k, store.Record{Version: 1, Data: []byte("one")})

	holder, err := rawDB(t, path).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	err = s.Save(ctx, k, store.Record{Version: 2, Data: []byte("two")})
	var be *sqlite.BusyError
	if !errors.Is(err, sqlite.ErrBusy) || !errors.As(err, &be) || be.Op != "save" || be.Timeout != timeout {
		t.Fatalf("Save while locked: %v; want a *BusyError of save with timeout %v", err, timeout)
	}
	if waited := time.Since(start); waited < timeout/2 {
		t.Errorf("Save gave up after %v, before the busy timeout of %v", waited, timeout)
	}
	t.Logf("Save while locked, after %v: %v", time.Since(start), err)
	if err := s.Delete(ctx, k, 1); !errors.Is(err, sqlite.ErrBusy) {
		t.Fatalf("Delete while locked: %v; want ErrBusy", err)
	}
	if got := load(t, s, k); got.Version != 1 {
		t.Fatalf("Load while locked: %+v; want version 1", got)
	}

	// A caller's deadline shorter than the busy timeout ends its wait.
	long := mustOpen(t, path, sqlite.WithBusyTimeout(time.Minute))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := long.Save(short, k, store.Record{Version: 2, Data: []byte("late")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Save with a deadline while locked: %v; want DeadlineExceeded", err)
	}

	if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	// The late Save may have been made once the lock was released, or
	// not: the next version follows whichever is stored.
	v := load(t, s, k).Version
	save(t, s, k, store.Record{Version: v + 1, Data: []byte("after")})

	// A new file whose table cannot be made for the lock is not opened.
	fresh := dbPath(t)
	freshHolder, err := rawDB(t, fresh).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer freshHolder.Close()
	for _, q := range []string{"PRAGMA journal_mode = WAL", "BEGIN IMMEDIATE", "CREATE TABLE other (x)"} {
		if _, err := freshHolder.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	locked, err := sqlite.Open(fresh, sqlite.WithBusyTimeout(timeout))
	if !errors.Is(err, sqlite.ErrBusy) {
		if locked != nil {
			locked.Close()
		}
		t.Fatalf("Open of a locked new file: %v; want ErrBusy", err)
	}
	if _, err := freshHolder.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, fresh)
	if !strings.Contains(err.Error(), "busy timeout") {
		t.Errorf("the error does not say what timed out: %v", err)
	}
}

// The WAL file grows for a large record and is cut back after it, so
// that one big state does not keep its size on disk for good.
func TestWALCutBack(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	k := store.Key{Capability: "counter", ID: "big"}
	save(t, s, k, store.Record{Version: 1, Data: make([]byte, 48<<20)})
	big, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	for v := uint64(2); v <= 10; v++ {
		save(t, s, k, store.Record{Version: v, Data: []byte("small")})
	}
	after, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("WAL after the large record: %d bytes; after small ones: %d bytes", big.Size(), after.Size())
	if after.Size() > 16<<20 {
		t.Fatalf("the WAL stays at %d bytes after a large record", after.Size())
	}
}
