package sqlite_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// record1K is the record of the benchmarks: 1 KiB of state.
var record1K = store.Record{Type: "bench.v1.State", Format: 1, Data: make([]byte, 1024)}

func openBench(b *testing.B, opts ...sqlite.Option) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// Saves of 1 KiB records, each goroutine saving the next version of a key
// of its own (a process saving after every message), with and without
// group commit, at each durability.
func BenchmarkSave(b *testing.B) {
	for _, sync := range []sqlite.Sync{sqlite.SyncFull, sqlite.SyncNormal} {
		for _, batch := range []int{256, 1} {
			for _, writers := range []int{1, 64} {
				name := fmt.Sprintf("sync=%v/batch=%d/goroutines=%d", sync, batch, writers)
				b.Run(name, func(b *testing.B) {
					prev := sqlite.SetMaxBatch(batch)
					defer sqlite.SetMaxBatch(prev)
					benchSaves(b, openBench(b, sqlite.WithSync(sync)), writers)
				})
			}
		}
	}
}

func benchSaves(b *testing.B, s *sqlite.Store, writers int) {
	ctx := b.Context()
	b.ReportAllocs()
	b.SetBytes(int64(len(record1K.Data)))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Go(func() {
			k := store.Key{Capability: "bench", ID: fmt.Sprint("writer-", w)}
			for v := range n {
				rec := record1K
				rec.Version = uint64(v + 1)
				if err := s.Save(ctx, k, rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "saves/s")
}

// Loads of 1 KiB records from 1 and from 64 goroutines, over 1,024 keys;
// the latency of one Load (a restore) is reported as p50 and p99.
func BenchmarkLoad(b *testing.B) {
	for _, readers := range []int{1, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", readers), func(b *testing.B) {
			s := openBench(b)
			ctx := b.Context()
			const keys = 1024
			for i := range keys {
				rec := record1K
				rec.Version = 1
				if err := s.Save(ctx, store.Key{Capability: "bench", ID: fmt.Sprint("k", i)}, rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			lat := make([][]time.Duration, readers)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for r := range readers {
				n := b.N / readers
				if r < b.N%readers {
					n++
				}
				lat[r] = make([]time.Duration, 0, n)
				wg.Go(func() {
					for i := range n {
						k := store.Key{Capability: "bench", ID: fmt.Sprint("k", (i*readers+r)%keys)}
						t0 := time.Now()
						if _, err := s.Load(ctx, k); err != nil {
							b.Error(err)
							return
						}
						lat[r] = append(lat[r], time.Since(t0))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "loads/s")
		})
	}
}
