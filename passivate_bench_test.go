package mesh_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkPassivationKeepsMemoryFlat calls distinct IDs once each (10M
// by default; MESH_BENCH_IDS sets another number) on a node whose
// capability holds at most 100,000 activations, and reports the
// process's resident memory and live heap after the first tenth of the
// IDs, at half and at the end: with the bound, the live heap stays where
// the bound puts it however many IDs come, and so does the resident
// memory once the Go runtime is given a memory limit (GOMEMLIMIT); without
// one it keeps up to twice the live heap and returns what it frees
// slowly. Run it alone:
//
//	GOMEMLIMIT=512MiB go test -run '^$' -bench PassivationKeepsMemoryFlat -benchtime 1x .
func BenchmarkPassivationKeepsMemoryFlat(b *testing.B) {
	total := 10_000_000
	if s := os.Getenv("MESH_BENCH_IDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("MESH_BENCH_IDS=%q: want a number of at least 10", s)
		}
		total = n
	}
	const bound = 100_000
	capability := echoPlain
	capability.MaxActivations, capability.IdleTimeout = bound, -1
	n := startNode(b, "node-1", nil, capability)
	payload := wrapperspb.String("ping")
	for range b.N {
		var next atomic.Int64
		var wg sync.WaitGroup
		var tenth runtime.MemStats
		var rssTenth, rssHalf, rssMax int64
		start := time.Now()
		sample := func() int64 {
			rss := rssBytes(b)
			for {
				prev := atomic.LoadInt64(&rssMax)
				if rss <= prev || atomic.CompareAndSwapInt64(&rssMax, prev, rss) {
					return rss
				}
			}
		}
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(total) {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := n.Call(ctx, mesh.Request{Capability: "echo", ID: fmt.Sprint("m-", i), Payload: payload})
					cancel()
					if err != nil {
						b.Error(err)
						return
					}
					if i%(int64(total)/100) == 0 {
						sample()
					}
					if i == int64(total)/2 {
						rssHalf = sample()
					}
					if i == int64(total)/10 {
						runtime.GC()
						runtime.ReadMemStats(&tenth)
						rssTenth = sample()
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		runtime.GC()
		var end runtime.MemStats
		runtime.ReadMemStats(&end)
		rssEnd := sample()
		b.ReportMetric(float64(total), "ids")
		b.ReportMetric(float64(len(n.Activations())), "active-at-end")
		b.ReportMetric(float64(rssTenth)/(1<<20), "rss-MB-at-tenth")
		b.ReportMetric(float64(rssHalf)/(1<<20), "rss-MB-at-half")
		b.ReportMetric(float64(rssEnd)/(1<<20), "rss-MB-at-end")
		b.ReportMetric(float64(rssMax)/(1<<20), "rss-MB-max")
		b.ReportMetric(float64(tenth.HeapAlloc)/(1<<20), "heap-MB-at-tenth")
		b.ReportMetric(float64(end.HeapAlloc)/(1<<20), "heap-MB-at-end")
		b.ReportMetric(float64(end.HeapSys-end.HeapReleased)/(1<<20), "heap-held-MB-at-end")
		b.ReportMetric(float64(end.StackSys)/(1<<20), "stack-MB-at-end")
		b.ReportMetric(float64(total)/took.Seconds(), "ids/s")
	}
}

// rssBytes returns the process's resident set size, from /proc.
func rssBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
