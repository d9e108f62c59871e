package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// opTimeout bounds each operation of the outage tests: far more than a
// refused connection takes, so that an error here is the store's, not the
// context's.
const opTimeout = 20 * time.Second

// waitServing waits, up to a minute, until s loads k without
// ErrUnavailable, and returns what it loaded.
func waitServing(t *testing.T, s store.Store, k store.Key) (store.Record, error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
		rec, err := s.Load(ctx, k)
		cancel()
		if !errors.Is(err, store.ErrUnavailable) {
			return rec, err
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still fails a minute after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// While the server is down every operation fails with ErrUnavailable and
// changes nothing, Open fails too, and once the server is back the same
// Store serves again with every acknowledged write in place.
func TestServerLostAndBack(t *testing.T) {
	srv := pgtest.New(t)
	url := srv.NewDatabase(t)
	s := open(t, url)
	k := store.Key{Capability: "counter", ID: "kept"}
	for v := uint64(1); v <= 3; v++ {
		mustSave(t, s, k, store.Record{Version: v, Type: "test.v1.State", Data: []byte(fmt.Sprint("state ", v))})
	}
	gone := store.Key{Capability: "counter", ID: "gone"}
	mustSave(t, s, gone, store.Record{Version: 1, Data: []byte("x")})

	srv.Stop(t)
	for round := range 3 { // a dead pooled connection, then new attempts
		ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
		rec, lerr := s.Load(ctx, k)
		if rec.Version != 0 || rec.Data != nil || rec.Type != "" {
			t.Errorf("round %d: Load with the server down returned %+v with its error; want a zero Record", round, rec)
		}
		serr := s.Save(ctx, k, store.Record{Version: 4, Data: []byte("lost")})
		derr := s.Delete(ctx, gone, 1)
		cancel()
		for what, err := range map[string]error{"Load": lerr, "Save": serr, "Delete": derr} {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("round %d: %s with the server down: %v; want ErrUnavailable", round, what, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	_, err := postgres.Open(ctx, url)
	cancel()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open with the server down: %v; want ErrUnavailable", err)
	}
	if t.Failed() {
		t.FailNow()
	}

	srv.Start(t)
	rec, err := waitServing(t, s, k)
	if err != nil || rec.Version != 3 || string(rec.Data) != "state 3" {
		t.Fatalf("after the restart Load = %+v, %v; want version 3, as saved before the outage", rec, err)
	}
	if rec, err := s.Load(t.Context(), gone); err != nil || rec.Version != 1 {
		t.Fatalf("after the restart the key whose Delete failed = %+v, %v; want version 1, held", rec, err)
	}
	mustSave(t, s, k, store.Record{Version: 4, Data: []byte("after")})
	if err := s.Delete(t.Context(), gone, 1); err != nil {
		t.Fatalf("Delete after the restart: %v", err)
	}
}

// Writers busy on keys of their own when the server dies: each write
// either returns nil, and is then in the store after the restart, or
// returns an error (ErrUnavailable, or the deadline), and is then either
// absent or exactly the write offered. Nothing acknowledged is lost and
// nothing is in the store that no writer offered.
func TestServerLostMidWrite(t *testing.T) {
	srv := pgtest.New(t)
	url := srv.NewDatabase(t)
	s := open(t, url, postgres.MaxConns(8))
	const writers, maxOps = 8, 100_000
	data := func(w int, v uint64) []byte { return []byte(fmt.Sprintf("writer %d version %d", w, v)) }

	var saved sync.WaitGroup // each writer's first 20 saves
	saved.Add(writers)
	acked := make([]uint64, writers)   // the last version each writer saw saved
	offered := make([]uint64, writers) // the version of its failed write
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			markSaved := sync.OnceFunc(saved.Done)
			defer markSaved()
			k := store.Key{Capability: "writer", ID: fmt.Sprint(w)}
			for op := range maxOps {
				v := acked[w] + 1
				ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
				err := s.Save(ctx, k, store.Record{Version: v, Data: data(w, v)})
				cancel()
				if err != nil {
					offered[w], errs[w] = v, err
					return
				}
				acked[w] = v
				if op == 20 {
					markSaved()
				}
			}
		})
	}
	saved.Wait()
	srv.Stop(t)
	wg.Wait()

	srv.Start(t)
	for w := range writers {
		if errs[w] == nil {
			t.Fatalf("writer %d: no write failed with the server down (last version %d)", w, acked[w])
		}
		if !errors.Is(errs[w], store.ErrUnavailable) && !errors.Is(errs[w], context.DeadlineExceeded) {
			t.Errorf("writer %d: a write as the server died: %v; want ErrUnavailable", w, errs[w])
		}
		k := store.Key{Capability: "writer", ID: fmt.Sprint(w)}
		rec, err := waitServing(t, s, k)
		switch {
		case err != nil:
			t.Errorf("writer %d: Load after the restart: %v", w, err)
		case rec.Version == acked[w] && string(rec.Data) == string(data(w, acked[w])):
		case rec.Version == offered[w] && string(rec.Data) == string(data(w, offered[w])):
			t.Logf("writer %d: the write in flight, version %d, was done", w, rec.Version)
		default:
			t.Errorf("writer %d: stored version %d %q; it saw %d saved and offered %d", w, rec.Version, rec.Data, acked[w], offered[w])
		}
	}
}
