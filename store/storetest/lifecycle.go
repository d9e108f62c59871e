package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
)

// A context that has ended, canceled or past its deadline, makes every
// method fail with its error and change nothing.
func testEndedContext(t *testing.T, s store.Store) {
	held, absent := key("held"), key("absent")
	rec := store.Record{Version: 1, Type: "test.v1.State", Data: []byte("held")}
	save(t, s, held, rec)

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancelExpired := context.WithDeadline(t.Context(), time.Unix(1, 0))
	defer cancelExpired()
	for _, ctx := range []context.Context{canceled, expired} {
		want := ctx.Err()
		if got, err := s.Load(ctx, held); !errors.Is(err, want) {
			t.Errorf("Load with an ended context = %s, %v; want %v", show(got), err, want)
		}
		if _, err := s.Load(ctx, absent); !errors.Is(err, want) {
			t.Errorf("Load of an absent key with an ended context: %v; want %v", err, want)
		}
		for _, c := range []struct {
			what string
			err  error
		}{
			{"Save of a new key", s.Save(ctx, absent, store.Record{Version: 1, Data: []byte("new")})},
			{"Save of the next version", s.Save(ctx, held, store.Record{Version: 2, Data: []byte("next")})},
			{"Delete at the stored version", s.Delete(ctx, held, 1)},
			{"Delete of an absent key", s.Delete(ctx, absent, 0)},
		} {
			if !errors.Is(c.err, want) {
				t.Errorf("%s with an ended context: %v; want %v", c.what, c.err, want)
			}
		}
		wantRecord(t, s, held, rec)
		wantMissing(t, s, absent, 0)
	}
}

// After Close every method fails with ErrClosed, whether or not the key
// holds a record and whatever its arguments, and a second Close does too.
func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	held, absent := key("held"), key("absent")
	save(t, s, held, store.Record{Version: 1, Data: []byte("held")})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, k := range []store.Key{held, absent} {
		if got, err := s.Load(ctx, k); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Load(%q) after Close = %s, %v; want ErrClosed", k.String(), show(got), err)
		}
		for v := uint64(0); v <= 2; v++ {
			if err := s.Save(ctx, k, store.Record{Version: v}); !errors.Is(err, store.ErrClosed) {
				t.Errorf("Save(%q) of version %d after Close: %v; want ErrClosed", k.String(), v, err)
			}
			if err := s.Delete(ctx, k, v); !errors.Is(err, store.ErrClosed) {
				t.Errorf("Delete(%q) at version %d after Close: %v; want ErrClosed", k.String(), v, err)
			}
		}
	}
	// Closed comes first: before the key is checked, and before the context.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	bad := store.Key{Capability: "a/b"}
	if _, err := s.Load(canceled, bad); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Load of an invalid key with an ended context after Close: %v; want ErrClosed", err)
	}
	if err := s.Save(canceled, bad, store.Record{Version: 1, Data: make([]byte, store.MaxDataLen+1)}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Save of an invalid key and record with an ended context after Close: %v; want ErrClosed", err)
	}
	if err := s.Delete(canceled, bad, 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Delete of an invalid key with an ended context after Close: %v; want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v; want ErrClosed", err)
	}
}

// Operations running while the store closes either complete or fail with
// ErrClosed, and every one that starts after Close has returned fails.
func testCloseConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, before, after = 8, 20, 20
	var closed atomic.Bool
	var ready sync.WaitGroup
	ready.Add(workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			markReady := sync.OnceFunc(ready.Done)
			defer markReady() // also if the worker fails early
			k := key(fmt.Sprint("closing-", w))
			var version uint64
			ops, opsAfter := 0, 0
			for opsAfter < after {
				wasClosed := closed.Load()
				var err error
				switch ops % 3 {
				case 0, 1:
					err = s.Save(ctx, k, store.Record{Version: version + 1, Data: []byte{byte(ops)}})
					if err == nil {
						version++
					}
				case 2:
					var rec store.Record
					rec, err = s.Load(ctx, k)
					if err == nil && rec.Version != version {
						t.Errorf("worker %d: Load returned version %d; it wrote %d", w, rec.Version, version)
						return
					}
					if errors.Is(err, store.ErrNotFound) && version == 0 {
						err = nil
					}
				}
				switch {
				case wasClosed && !errors.Is(err, store.ErrClosed):
					t.Errorf("worker %d: an operation started after Close returned: %v; want ErrClosed", w, err)
					return
				case err != nil && !errors.Is(err, store.ErrClosed):
					t.Errorf("worker %d: an operation while closing: %v; want success or ErrClosed", w, err)
					return
				}
				ops++
				if ops == before {
					markReady()
				}
				if wasClosed {
					opsAfter++
				}
			}
		})
	}
	ready.Wait()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closed.Store(true)
	wg.Wait()
}
