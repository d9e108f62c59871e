package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/meshrun/mesh/store"
)

// seed seeds the random choices of MixedLoad, so that a failure repeats.
const seed = 0x6d657368

// Of many writers racing to write the same version of one key, exactly
// one succeeds, every other gets ErrStale, and the key holds the winner's
// write.
func testConcurrentSavesOneWins(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers, rounds = 16, 30
	k := key("contended")
	var version uint64 // before each round
	for round := range rounds {
		// Even rounds race saves only; odd rounds race saves of the next
		// version against deletes of the current one.
		start := make(chan struct{})
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				if round%2 == 1 && w%2 == 1 {
					errs[w] = s.Delete(ctx, k, version)
					return
				}
				errs[w] = s.Save(ctx, k, store.Record{Version: version + 1, Type: "test.writer", Format: uint32(w), Data: []byte(strconv.Itoa(w))})
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for w, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both wrote version %d", round, winner, w, version+1)
				}
				winner = w
				continue
			}
			op, offered := "save", version+1
			if round%2 == 1 && w%2 == 1 {
				op, offered = "delete", version
			}
			if msg := checkStale(err, op, k, version+1, offered); msg != "" {
				t.Fatalf("round %d, writer %d: %s", round, w, msg)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer of version %d succeeded", round, version+1)
		}
		version++
		if round%2 == 1 && winner%2 == 1 {
			wantMissing(t, s, k, version)
		} else {
			wantRecord(t, s, k, store.Record{Version: version, Type: "test.writer", Format: uint32(winner), Data: []byte(strconv.Itoa(winner))})
		}
	}
}

// Many goroutines run a fixed random mix of every operation, each on keys
// of its own, where every result is checked against a model, and all on
// shared counters, where only compare-and-set by version keeps the count.
func testMixedLoad(t *testing.T, s store.Store) {
	const (
		workers   = 8
		ownKeys   = 8
		sharedN   = 4
		opsEach   = 400
		maxTrials = 10_000 // of one increment of a shared counter
	)
	ctx := t.Context()
	shared := make([]store.Key, sharedN)
	for i := range shared {
		shared[i] = store.Key{Capability: "shared", ID: fmt.Sprint("counter-", i)}
	}

	type state struct {
		rec  store.Record // rec.Version is the key's version, also when !live
		live bool
	}
	models := make([]map[store.Key]state, workers)
	increments := make([][sharedN]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			model := make(map[store.Key]state)
			models[w] = model
			own := make([]store.Key, ownKeys)
			for i := range own {
				own[i] = store.Key{Capability: []string{"counter", "chat"}[i%2], ID: fmt.Sprintf("w%d-k%d", w, i)}
			}
			fail := func(op int, format string, args ...any) {
				t.Errorf("seed %#x, worker %d, op %d: %s", seed, w, op, fmt.Sprintf(format, args...))
			}
			for op := range opsEach {
				k := own[r.IntN(ownKeys)]
				m := model[k]
				v := m.rec.Version
				switch n := r.IntN(100); {
				case n < 25: // Load
					got, err := s.Load(ctx, k)
					switch {
					case m.live && (err != nil || !same(got, m.rec)):
						fail(op, "Load(%q) = %s, %v; want %s", k.String(), show(got), err, show(m.rec))
						return
					case !m.live && (!errors.Is(err, store.ErrNotFound) || !same(got, store.Record{Version: v})):
						fail(op, "Load(%q) = %s, %v; want ErrNotFound at version %d", k.String(), show(got), err, v)
						return
					}
				case n < 50: // Save of the next version
					rec := store.Record{Version: v + 1, Type: fmt.Sprint("test.t", r.IntN(3)), Format: r.Uint32(), Data: randomBytes(r.IntN(65), r.Uint64())}
					if err := s.Save(ctx, k, rec); err != nil {
						fail(op, "Save(%q) of version %d: %v", k.String(), v+1, err)
						return
					}
					model[k] = state{rec, true}
				case n < 60: // Save of a wrong version
					offered := []uint64{v, v + 2, v + 2 + r.Uint64N(1000), 0}[r.IntN(4)]
					err := s.Save(ctx, k, store.Record{Version: offered, Data: []byte("stale")})
					if msg := checkStale(err, "save", k, v, offered); msg != "" {
						fail(op, "%s", msg)
						return
					}
				case n < 70: // Delete at the version
					if err := s.Delete(ctx, k, v); err != nil {
						fail(op, "Delete(%q) at version %d: %v", k.String(), v, err)
						return
					}
					if m.live {
						model[k] = state{store.Record{Version: v + 1}, false}
					}
				case n < 77: // Delete at a wrong version
					offered := []uint64{v + 1, v + 2 + r.Uint64N(1000)}[r.IntN(2)]
					if v > 0 && r.IntN(2) == 0 {
						offered = r.Uint64N(v)
					}
					err := s.Delete(ctx, k, offered)
					if msg := checkStale(err, "delete", k, v, offered); msg != "" {
						fail(op, "%s", msg)
						return
					}
				default: // Increment a shared counter by compare-and-set
					i := r.IntN(sharedN)
					if err := increment(ctx, s, shared[i], maxTrials); err != nil {
						fail(op, "increment of %q: %v", shared[i].String(), err)
						return
					}
					increments[w][i]++
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for _, model := range models {
		for k, m := range model {
			if m.live {
				wantRecord(t, s, k, m.rec)
			} else {
				wantMissing(t, s, k, m.rec.Version)
			}
		}
	}
	for i, k := range shared {
		var total uint64
		for w := range workers {
			total += increments[w][i]
		}
		if total == 0 {
			wantMissing(t, s, k, 0)
			continue
		}
		wantRecord(t, s, k, store.Record{Version: total, Data: []byte(strconv.FormatUint(total, 10))})
	}
}

// increment adds one to the decimal counter stored at k: it loads the
// counter, saves the next version, and on ErrStale tries again, at most
// trials times.
func increment(ctx context.Context, s store.Store, k store.Key, trials int) error {
	for range trials {
		rec, err := s.Load(ctx, k)
		var n uint64
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.ParseUint(string(rec.Data), 10, 64); err != nil {
				return fmt.Errorf("counter holds %s: %v", show(rec), err)
			}
		}
		next := store.Record{Version: rec.Version + 1, Data: []byte(strconv.FormatUint(n+1, 10))}
		err = s.Save(ctx, k, next)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrStale) {
			return err
		}
	}
	return fmt.Errorf("still stale after %d trials", trials)
}
