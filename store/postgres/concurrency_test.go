package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// increment adds one to the decimal counter at k by load and
// compare-and-set, trying again when stale, at most 10,000 times.
func increment(ctx context.Context, s store.Store, k store.Key) error {
	for range 10_000 {
		rec, err := s.Load(ctx, k)
		var n uint64
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.ParseUint(string(rec.Data), 10, 64); err != nil {
				return fmt.Errorf("counter holds %q: %v", rec.Data, err)
			}
			if n != rec.Version {
				return fmt.Errorf("counter %d at version %d: an increment was lost or doubled", n, rec.Version)
			}
		}
		err = s.Save(ctx, k, store.Record{Version: rec.Version + 1, Data: []byte(strconv.FormatUint(n+1, 10))})
		if !errors.Is(err, store.ErrStale) {
			return err
		}
	}
	return errors.New("still stale after 10,000 tries")
}

// counters are the keys every writer increments.
func counters() []store.Key {
	ks := make([]store.Key, 4)
	for i := range ks {
		ks[i] = store.Key{Capability: "shared", ID: fmt.Sprint("counter-", i)}
	}
	return ks
}

// checkCounters fails the test unless every counter is at want.
func checkCounters(t *testing.T, s store.Store, want uint64) {
	t.Helper()
	for _, k := range counters() {
		rec, err := s.Load(t.Context(), k)
		if err != nil || rec.Version != want || string(rec.Data) != strconv.FormatUint(want, 10) {
			t.Errorf("%s = version %d, %q, %v; want %d", k.String(), rec.Version, rec.Data, err, want)
		}
	}
}

// Writers in several goroutines of several pools (as several nodes)
// increment the same counters by compare-and-set: no increment is lost
// or counted twice.
func TestConcurrentPools(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	const pools, perPool, each = 4, 8, 15
	stores := make([]*postgres.Store, pools)
	for i := range stores {
		stores[i] = open(t, url, postgres.MaxConns(3))
	}
	var wg sync.WaitGroup
	for p := range pools {
		for g := range perPool {
			wg.Go(func() {
				for i := range each {
					for _, k := range counters() {
						if err := increment(t.Context(), stores[p], k); err != nil {
							t.Errorf("pool %d, writer %d, increment %d of %s: %v", p, g, i, k.String(), err)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	checkCounters(t, stores[0], pools*perPool*each)
}

// childEnv names the environment variable that makes the test binary a
// writer process of TestConcurrentProcesses: it holds the database URL.
const childEnv = "MESH_POSTGRES_TEST_WRITER"

// childIncrements is how many times each writer process increments each
// counter.
const childIncrements = 40

// Writers in separate OS processes, as nodes on separate machines,
// increment the same counters: the total is exact.
func TestConcurrentProcesses(t *testing.T) {
	if url := os.Getenv(childEnv); url != "" {
		writer(t, url)
		return
	}
	url := pgtest.Shared(t).NewDatabase(t)
	const procs = 3
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmds := make([]*exec.Cmd, procs)
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range cmds {
		cmds[i] = exec.CommandContext(ctx, exe, "-test.run=^TestConcurrentProcesses$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), childEnv+"="+url)
		wg.Go(func() { outs[i], errs[i] = cmds[i].CombinedOutput() })
	}
	wg.Wait()
	for i := range cmds {
		if errs[i] != nil {
			t.Errorf("writer process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	s := open(t, url)
	checkCounters(t, s, procs*childIncrements)
}

// writer is the body of a writer process: two pools, four goroutines
// each, childIncrements increments of each counter in all.
func writer(t *testing.T, url string) {
	stores := []*postgres.Store{open(t, url), open(t, url)}
	const goroutines = 8
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%len(stores)]
			for i := g; i < childIncrements; i += goroutines {
				for _, k := range counters() {
					if err := increment(t.Context(), s, k); err != nil {
						t.Errorf("writer %d, increment %d of %s: %v", g, i, k.String(), err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
