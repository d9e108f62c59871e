package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// dbPath returns the path of a new database file in a temporary
// directory.
func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "state.db") }

// mustOpen opens a Store on path and closes it when the test ends.
func mustOpen(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawDB opens the file with the driver alone, as an operator's tool
// would, without the store's checks.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// save saves rec at k or fails the test.
func save(t testing.TB, s store.Store, k store.Key, rec store.Record) {
	t.Helper()
	if err := s.Save(t.Context(), k, rec); err != nil {
		t.Fatalf("Save(%q, version %d): %v", k.String(), rec.Version, err)
	}
}

// load loads k or fails the test.
func load(t testing.TB, s store.Store, k store.Key) store.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), k)
	if err != nil {
		t.Fatalf("Load(%q): %v", k.String(), err)
	}
	return rec
}

// wantStale fails the test unless err is a *store.StaleError with the
// stored version.
func wantStale(t testing.TB, err error, stored uint64) {
	t.Helper()
	var se *store.StaleError
	if !errors.As(err, &se) || !errors.Is(err, store.ErrStale) || se.Stored != stored {
		t.Fatalf("got %v; want a *store.StaleError with version %d stored", err, stored)
	}
}
