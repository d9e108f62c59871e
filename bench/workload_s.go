package main

// Workload S: the stores on their own, in the driver process, through the
// store.Store interface mesh itself uses.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/meshrun/mesh/store"
)

// phRestore is S's phase of sequential Loads of 1 KiB records.
const phRestore = "restore"

// sWriters are the goroutines of S's save phases.
var sWriters = []int{1, 64}

// savePhase names S's save phase from n goroutines.
func savePhase(n int) string { return "save" + strconv.Itoa(n) }

// restoreKeys is how many records the restore phase loads, round robin.
const restoreKeys = 64

// sRecord is S's record: 1 KiB of state, as a process's snapshot.
func sRecord(version uint64) store.Record {
	return store.Record{Version: version, Type: "meshbench.State", Format: 1, Data: make([]byte, 1024)}
}

// runS measures one store: saves per second from 1 and from 64
// goroutines, each saving the next version of a key of its own (a process
// saving after every message), and the latency of a restore, one Load of
// a 1 KiB record, from one goroutine. Every phase is bounded by the run's
// window and limit.
func runS(r *runner, contender, _ string) (*result, error) {
	a, cleanup, err := r.freshStore(contender)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ctx, cancel := context.WithTimeout(context.Background(), seconds(4*r.p.Limit))
	defer cancel()
	st, err := openStore(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", contender, err)
	}
	defer st.Close()
	p := r.p
	var phases []phaseResult
	for _, w := range sWriters {
		phases = append(phases, timedStoreOps(savePhase(w), w, p.SSaves, p, saver(ctx, st, savePhase(w), w)))
	}
	// The records to restore, saved at once as a node's processes would.
	var wg sync.WaitGroup
	errs := make([]error, restoreKeys)
	for i := range restoreKeys {
		wg.Go(func() { errs[i] = st.Save(ctx, restoreKey(i), sRecord(1)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return &result{Phases: phasesResult(phases)}, fmt.Errorf("save the records to restore: %w", err)
	}
	phases = append(phases, timedStoreOps(phRestore, 1, p.SLoads, p, func(_, j int) error {
		rec, err := st.Load(ctx, restoreKey(j%restoreKeys))
		if err == nil && len(rec.Data) != 1024 {
			err = fmt.Errorf("restored %d bytes, saved 1024", len(rec.Data))
		}
		return err
	}))
	return &result{Phases: phasesResult(phases)}, nil
}

func restoreKey(i int) store.Key {
	return store.Key{Capability: "bench", ID: "restore-" + strconv.Itoa(i)}
}

// saver returns the operation of a save phase: goroutine g saves the next
// version of its own key.
func saver(ctx context.Context, st store.Store, phase string, goroutines int) func(g, j int) error {
	versions := make([]uint64, goroutines) // goroutine g alone uses versions[g]
	return func(g, _ int) error {
		versions[g]++
		return st.Save(ctx, store.Key{Capability: "bench", ID: phase + "-" + strconv.Itoa(g)}, sRecord(versions[g]))
	}
}

// timedStoreOps runs op from goroutines goroutines, n operations in all
// (j is the operation's index), until they are done or the run's window
// ends, and times each.
func timedStoreOps(name string, goroutines, n int, p params, op func(g, j int) error) phaseResult {
	lat := make([]int64, n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var stop, windowed atomic.Bool
	limit := time.AfterFunc(seconds(p.Limit), func() { stop.Store(true) })
	defer limit.Stop()
	window := time.AfterFunc(seconds(p.Window), func() { windowed.Store(true); stop.Store(true) })
	defer window.Stop()
	var wg sync.WaitGroup
	start := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			for !stop.Load() {
				j := int(next.Add(1) - 1)
				if j >= n {
					return
				}
				t0 := time.Now()
				err := op(g, j)
				d := time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					// A failed save leaves its version unused: stop
					// this goroutine rather than save stale versions.
					return
				}
				lat[j] = max(int64(d), 1)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	h := hdrhistogram.New(1, int64(time.Minute), 3)
	ok := 0
	for _, d := range lat {
		if d > 0 {
			ok++
			_ = h.RecordValue(d)
		}
	}
	r := phaseResult{Name: name, N: n, OK: ok, Errors: int(errs.Load()), Wall: wall.Seconds(), Rate: float64(ok) / wall.Seconds()}
	r.Windowed = windowed.Load() && ok+r.Errors < n
	if ok+r.Errors < n && !r.Windowed {
		r.FirstErr = fmt.Sprintf("stopped by the %gs limit after %d operations", p.Limit, ok)
	}
	if s, _ := firstErr.Load().(string); s != "" {
		r.FirstErr = s
	}
	if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		r.Hist = string(enc)
	}
	return r
}
