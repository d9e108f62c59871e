package sqlite_test

import (
	"errors"
	"math"
	"os"
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// A row that cannot be a record, written past the schema's checks (as a
// hand edit or another program might), is reported as ErrCorrupt by every
// operation that reads it, and left as it is; it never panics and never
// reads as a record or as a missing key.
func TestCorruptRows(t *testing.T) {
	for _, c := range []struct {
		name   string
		set    string // SQL assignments to the row
		writes bool   // its version is sound: a Save of the next version replaces it
	}{
		{name: "negative version", set: "version = -1"},
		{name: "version 0", set: "version = 0"},
		{name: "text version", set: "version = 'seven'"},
		{name: "real version", set: "version = 1.5"},
		{name: "blob version", set: "version = X'01'"},
		{name: "live 2", set: "live = 2", writes: true},
		{name: "text live", set: "live = 'yes'", writes: true},
		{name: "integer type", set: "type = 42", writes: true},
		{name: "text type", set: "type = 'x.y.Z'", writes: true},
		{name: "type too long", set: "type = zeroblob(513)", writes: true},
		{name: "negative format", set: "format = -1", writes: true},
		{name: "format past uint32", set: "format = 4294967296", writes: true},
		{name: "text format", set: "format = 'one'", writes: true},
		{name: "text data", set: "data = 'state'", writes: true},
		{name: "integer data", set: "data = 7", writes: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := dbPath(t)
			ctx := t.Context()
			k := store.Key{Capability: "counter", ID: "damaged"}
			other := store.Key{Capability: "counter", ID: "sound"}
			s := mustOpen(t, path)
			save(t, s, k, store.Record{Version: 1, Type: "t.v1", Data: []byte("one")})
			save(t, s, k, store.Record{Version: 2, Type: "t.v1", Data: []byte("two")})
			save(t, s, other, store.Record{Version: 1, Data: []byte("other")})

			db := rawDB(t, path)
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, "PRAGMA ignore_check_constraints = ON"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, "UPDATE mesh_records_v1 SET "+c.set+" WHERE id = ?", []byte(k.ID)); err != nil {
				t.Fatal(err)
			}

			rec, err := s.Load(ctx, k)
			if !errors.Is(err, store.ErrCorrupt) || rec.Version != 0 || rec.Type != "" || rec.Format != 0 || rec.Data != nil {
				t.Fatalf("Load of a row with %s = %+v, %v; want ErrCorrupt and a zero record", c.set, rec, err)
			}
			t.Logf("Load: %v", err)
			if got := load(t, s, other); string(got.Data) != "other" {
				t.Fatalf("another key loads %q", got.Data)
			}
			if c.writes {
				// The version is sound, so a writer that names the next
				// one replaces the damaged row.
				save(t, s, k, store.Record{Version: 3, Data: []byte("three")})
				if got := load(t, s, k); got.Version != 3 || string(got.Data) != "three" {
					t.Fatalf("after the Save over the damaged row: %+v", got)
				}
				return
			}
			for _, v := range []uint64{0, 1, 2, 3, math.MaxUint64} {
				if err := s.Save(ctx, k, store.Record{Version: v}); !errors.Is(err, store.ErrCorrupt) {
					t.Errorf("Save of version %d over a row with %s: %v; want ErrCorrupt", v, c.set, err)
				}
				if err := s.Delete(ctx, k, v); !errors.Is(err, store.ErrCorrupt) {
					t.Errorf("Delete at version %d of a row with %s: %v; want ErrCorrupt", v, c.set, err)
				}
			}
			if _, err := s.Load(ctx, k); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("the damaged row changed: Load: %v", err)
			}
		})
	}
}

// The schema refuses the same rows from a writer that does not turn the
// checks off.
func TestSchemaChecks(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	k := store.Key{Capability: "counter", ID: "x"}
	save(t, s, k, store.Record{Version: 1, Data: []byte("x")})
	db := rawDB(t, path)
	for _, set := range []string{"version = -1", "version = 'x'", "live = 2", "type = 'text'", "format = -1", "data = 'text'", "data = NULL"} {
		if _, err := db.ExecContext(t.Context(), "UPDATE mesh_records_v1 SET "+set); err == nil {
			t.Errorf("the schema accepts %s", set)
		}
	}
	if got := load(t, s, k); got.Version != 1 || string(got.Data) != "x" {
		t.Fatalf("the row changed: %+v", got)
	}
}

// The largest version a SQLite integer holds, 2^63 - 1, is the last: a
// write past it fails with ErrTooLarge instead of wrapping around, and a
// version offered beyond it is stale as any other.
func TestVersionSpace(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	ctx := t.Context()
	k := store.Key{Capability: "counter", ID: "old"}
	save(t, s, k, store.Record{Version: 1, Data: []byte("x")})
	if _, err := rawDB(t, path).ExecContext(ctx, "UPDATE mesh_records_v1 SET version = ?", int64(math.MaxInt64)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, k, store.Record{Version: math.MaxInt64 + 1}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Save past the largest version: %v; want ErrTooLarge", err)
	}
	if err := s.Delete(ctx, k, math.MaxInt64); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Delete at the largest version: %v; want ErrTooLarge", err)
	}
	wantStale(t, s.Save(ctx, k, store.Record{Version: math.MaxUint64}), math.MaxInt64)
	wantStale(t, s.Save(ctx, k, store.Record{Version: math.MaxInt64}), math.MaxInt64)
	if got := load(t, s, k); got.Version != math.MaxInt64 || string(got.Data) != "x" {
		t.Fatalf("the record changed: %+v", got)
	}
}

// A database file damaged under the table (its pages overwritten) fails
// Loads with ErrCorrupt, not a panic and not a missing key.
func TestDamagedFile(t *testing.T) {
	path := dbPath(t)
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	big := make([]byte, 64<<10)
	for i := range 64 {
		save(t, s, store.Key{Capability: "counter", ID: string(rune('a'+i%26)) + string(rune('0'+i/26))}, store.Record{Version: 1, Data: big})
	}
	if err := s.Close(); err != nil { // the last connection: checkpoints the WAL into the file
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, info.Size()-8192)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, 8192); err != nil { // keep page 1 (the schema) and page 2
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(path)
	if err != nil {
		if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("Open of a damaged file: %v; want ErrCorrupt or success", err)
		}
		t.Logf("Open: %v", err)
		return
	}
	defer s.Close()
	corrupt := 0
	for i := range 64 {
		k := store.Key{Capability: "counter", ID: string(rune('a'+i%26)) + string(rune('0'+i/26))}
		_, err := s.Load(ctx, k)
		switch {
		case errors.Is(err, store.ErrCorrupt):
			corrupt++
		case err == nil || errors.Is(err, store.ErrNotFound):
			t.Fatalf("Load(%q) of a damaged file: %v; want ErrCorrupt", k.String(), err)
		}
	}
	if corrupt == 0 {
		t.Fatal("no Load reported the damage")
	}
	t.Logf("%d of 64 Loads reported ErrCorrupt", corrupt)
}
