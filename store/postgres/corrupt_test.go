package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// A row edited by hand to values the store never writes is ErrCorrupt for
// every operation on its key, and only its key; nothing panics, and no
// write lands over it.
func TestCorruptRows(t *testing.T) {
	srv := pgtest.Shared(t)
	url := srv.NewDatabase(t)
	s := open(t, url)
	// The table's NOT NULL on type is dropped, as a hand-made table might
	// lack it.
	srv.Exec(t, url, `ALTER TABLE mesh_state ALTER COLUMN type DROP NOT NULL`)
	ctx := t.Context()
	good := store.Key{Capability: "counter", ID: "good"}
	mustSave(t, s, good, store.Record{Version: 1, Data: []byte("fine")})

	for _, c := range []struct {
		name, set string
		deleted   bool // the row is a tombstone before the edit
	}{
		{"negative version", "version = -5", false},
		{"version 0 held", "version = 0", false},
		{"negative version deleted", "version = -1", true},
		{"version 0 deleted", "version = 0", true},
		{"negative format", "format = -1", false},
		{"format past uint32", "format = 4294967296", false},
		{"NULL type", "type = NULL", false},
		{"type too long", "type = convert_to(repeat('t', 513), 'UTF8')", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := store.Key{Capability: "counter", ID: c.name}
			mustSave(t, s, k, store.Record{Version: 1, Type: "test.v1.State", Format: 3, Data: []byte("state")})
			if c.deleted {
				if err := s.Delete(ctx, k, 1); err != nil {
					t.Fatal(err)
				}
			}
			srv.Exec(t, url, `UPDATE mesh_state SET `+c.set+` WHERE capability = $1 AND id = $2`, k.Capability, []byte(k.ID))

			if rec, err := s.Load(ctx, k); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Load = %+v, %v; want ErrCorrupt", rec, err)
			}
			if strings.Contains(c.set, "version") {
				// The version itself is unreadable: writes cannot say what
				// is stored, and refuse.
				for v := uint64(0); v <= 3; v++ {
					if err := s.Save(ctx, k, store.Record{Version: v, Data: []byte("over")}); !errors.Is(err, store.ErrCorrupt) {
						t.Errorf("Save of version %d = %v; want ErrCorrupt", v, err)
					}
					if err := s.Delete(ctx, k, v); !errors.Is(err, store.ErrCorrupt) {
						t.Errorf("Delete of version %d = %v; want ErrCorrupt", v, err)
					}
				}
			}
			if rec, err := s.Load(ctx, good); err != nil || string(rec.Data) != "fine" {
				t.Errorf("another key: %+v, %v", rec, err)
			}
		})
	}
}

// A column changed by hand to another type fails the Loads of an open
// store with an error (ErrCorrupt once the store's statements have been
// prepared again), and a new Open refuses the table with ErrSchema.
func TestCorruptColumnType(t *testing.T) {
	srv := pgtest.Shared(t)
	url := srv.NewDatabase(t)
	s := open(t, url)
	k := store.Key{Capability: "counter", ID: "x"}
	mustSave(t, s, k, store.Record{Version: 1, Format: 2, Data: []byte("x")})
	srv.Exec(t, url, `ALTER TABLE mesh_state ALTER COLUMN format TYPE text USING 'two'`)

	var err error
	for range 3 {
		_, err = s.Load(t.Context(), k)
		if err == nil {
			t.Fatal("Load of a row whose format is the text 'two' succeeded")
		}
		if errors.Is(err, store.ErrCorrupt) {
			break
		}
		// The server refuses the first use of a statement prepared
		// before the change ("cached plan must not change result type").
	}
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Load after the column changed type: %v; want ErrCorrupt", err)
	}
	if _, err := postgres.Open(t.Context(), url); !errors.Is(err, postgres.ErrSchema) {
		t.Errorf("Open of the changed table: %v; want ErrSchema", err)
	}
}
