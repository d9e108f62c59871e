package postgres_test

import (
	"errors"
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// Two stores with pools of their own, as two nodes: both load version 0,
// the first to save wins, and the other is refused with the version the
// winner stored, for saves and deletes alike.
func TestStaleAcrossPools(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	k := store.Key{Capability: "counter", ID: "user-42"}

	ra, errA := a.Load(ctx, k)
	rb, errB := b.Load(ctx, k)
	if !errors.Is(errA, store.ErrNotFound) || !errors.Is(errB, store.ErrNotFound) || ra.Version != 0 || rb.Version != 0 {
		t.Fatalf("Loads of a new key: %v at %d, %v at %d", errA, ra.Version, errB, rb.Version)
	}
	won := store.Record{Version: 1, Type: "test.v1.Counter", Format: 1, Data: []byte("a")}
	mustSave(t, a, k, won)

	var se *store.StaleError
	err := b.Save(ctx, k, store.Record{Version: 1, Data: []byte("b")})
	if !errors.As(err, &se) || se.Stored != 1 || se.Offered != 1 || se.Op != "save" || se.Key != k {
		t.Fatalf("stale Save from the second pool: %v; want a StaleError at stored 1, offered 1", err)
	}
	err = b.Delete(ctx, k, 0)
	if !errors.As(err, &se) || se.Stored != 1 || se.Offered != 0 || se.Op != "delete" {
		t.Fatalf("stale Delete from the second pool: %v; want a StaleError at stored 1, offered 0", err)
	}
	got, err := b.Load(ctx, k)
	if err != nil || got.Version != 1 || string(got.Data) != "a" || got.Type != won.Type || got.Format != 1 {
		t.Fatalf("Load from the second pool = %+v, %v; want the first pool's record", got, err)
	}

	// The second pool, having reloaded, goes on; now the first is stale.
	mustSave(t, b, k, store.Record{Version: 2, Data: []byte("b")})
	err = a.Save(ctx, k, store.Record{Version: 2, Data: []byte("a again")})
	if !errors.As(err, &se) || se.Stored != 2 || se.Offered != 2 {
		t.Fatalf("stale Save from the first pool: %v; want a StaleError at stored 2", err)
	}
	if err := b.Delete(ctx, k, 2); err != nil {
		t.Fatal(err)
	}
	err = a.Save(ctx, k, store.Record{Version: 3, Data: []byte("resurrected")})
	if !errors.As(err, &se) || se.Stored != 3 {
		t.Fatalf("Save over another pool's Delete: %v; want a StaleError at stored 3", err)
	}
	if got, err := a.Load(ctx, k); !errors.Is(err, store.ErrNotFound) || got.Version != 3 {
		t.Fatalf("Load after the Delete = %+v, %v; want ErrNotFound at version 3", got, err)
	}
}

// With the statements not prepared (as behind a pooler in transaction
// mode), versions still fence, and keys with NUL and records round-trip.
func TestUnpreparedStatements(t *testing.T) {
	s := open(t, pgtest.Shared(t).NewDatabase(t)+"&default_query_exec_mode=exec")
	k := store.Key{Capability: "counter", ID: "a\x00b"}
	rec := store.Record{Version: 1, Type: "t\x00", Format: 7, Data: []byte{0, 1, 2}}
	mustSave(t, s, k, rec)
	var se *store.StaleError
	if err := s.Save(t.Context(), k, rec); !errors.As(err, &se) || se.Stored != 1 {
		t.Fatalf("a repeated Save: %v; want a StaleError at stored 1", err)
	}
	got, err := s.Load(t.Context(), k)
	if err != nil || got.Version != 1 || got.Type != rec.Type || got.Format != 7 || string(got.Data) != string(rec.Data) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, rec)
	}
	if err := s.Delete(t.Context(), k, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(t.Context(), k); !errors.Is(err, store.ErrNotFound) || got.Version != 2 {
		t.Fatalf("Load after Delete = %+v, %v", got, err)
	}
}
