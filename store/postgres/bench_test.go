package postgres_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// benchKeys is how many keys the benchmarks spread their operations
// over, each holding a record of benchData bytes.
const (
	benchKeys = 1024
	benchData = 1024
)

// benchStore opens a Store on a fresh database of the shared server, with
// benchKeys records at version 1.
func benchStore(b *testing.B, opts ...postgres.Option) *postgres.Store {
	b.Helper()
	s := open(b, pgtest.Shared(b).NewDatabase(b), opts...)
	data := make([]byte, benchData)
	for i := range benchKeys {
		mustSave(b, s, benchKey(i), store.Record{Version: 1, Type: "bench.v1.State", Data: data})
	}
	return s
}

func benchKey(i int) store.Key { return store.Key{Capability: "bench", ID: fmt.Sprint("key-", i)} }

// Saves of 1 KiB records, one after another, each the next version of
// one of benchKeys keys: one committed transaction each.
func BenchmarkSave(b *testing.B) {
	s := benchStore(b)
	versions := make([]uint64, benchKeys) // each key's stored version
	for i := range versions {
		versions[i] = 1
	}
	data := make([]byte, benchData)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % benchKeys
		versions[k]++
		if err := s.Save(b.Context(), benchKey(k), store.Record{Version: versions[k], Type: "bench.v1.State", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
}

// Saves from 64 goroutines, each on keys of its own, through pools of 4
// (the default on 2 CPUs) and 32 connections.
func BenchmarkSaveParallel64(b *testing.B) {
	for _, conns := range []int{4, 32} {
		b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) {
			s := benchStore(b, postgres.MaxConns(conns))
			var next atomic.Int64
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				k := benchKey(int(next.Add(1)) + benchKeys) // a key of this goroutine's own
				data := make([]byte, benchData)
				for v := uint64(1); pb.Next(); v++ {
					if err := s.Save(b.Context(), k, store.Record{Version: v, Type: "bench.v1.State", Data: data}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
		})
	}
}

// Loads of 1 KiB records, one goroutine and 64.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b, postgres.MaxConns(32))
	b.Run("goroutines=1", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Load(b.Context(), benchKey(i%benchKeys)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
	})
	b.Run("goroutines=64", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := int(next.Add(1)); pb.Next(); i++ {
				if _, err := s.Load(b.Context(), benchKey(i%benchKeys)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
	})
}

// The latency of restoring a process: one Load of a 1 KiB record, on a
// pool that is warm, reported as its median and 99th percentile.
func BenchmarkRestoreLatency(b *testing.B) {
	s := benchStore(b)
	var lat []time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		rec, err := s.Load(b.Context(), benchKey(i%benchKeys))
		lat = append(lat, time.Since(start))
		if err != nil || len(rec.Data) != benchData {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
