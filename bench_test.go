package mesh_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoPlain replies with its payload, so that benchmarks measure the
// runtime rather than the process.
var echoPlain = mesh.Capability{Name: "echo", New: func(string) mesh.Process {
	return mesh.ProcessFunc(func(_ mesh.Context, msg proto.Message) (proto.Message, error) { return msg, nil })
}}

func benchCalls(b *testing.B, from *mesh.Node, ids []string, parallelism int) {
	b.Helper()
	payload := wrapperspb.String("ping")
	// No deadline of the caller's, as most callers: each call is bounded by
	// CallTimeout.
	ctx := context.Background()
	for _, id := range ids {
		if _, err := from.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[int(next.Add(1))%len(ids)]
			if _, err := from.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint("actor_", i)
	}
	return ids
}

// BenchmarkCallLocal: warm calls to processes on the calling node.
func BenchmarkCallLocal(b *testing.B) {
	n := startNode(b, "solo", nil, echoPlain)
	waitFor(b, 5*time.Second, "echo to be placed", func() bool { _, err := n.Locate("echo", "a"); return err == nil })
	benchCalls(b, n, benchIDs(1000), 1)
}

// BenchmarkCallLocalCrowd: warm calls from 300 callers to 5,000 processes
// on the calling node, as the benchmark program's B5.
func BenchmarkCallLocalCrowd(b *testing.B) {
	n := startNode(b, "solo", nil, echoPlain)
	waitFor(b, 5*time.Second, "echo to be placed", func() bool { _, err := n.Locate("echo", "a"); return err == nil })
	benchCalls(b, n, benchIDs(5000), 300/runtime.GOMAXPROCS(0))
}

// BenchmarkActivate: calls to new IDs on the calling node, each the
// activation of a process, as the benchmark program's B1.
func BenchmarkActivate(b *testing.B) {
	n := startNode(b, "solo", nil, echoPlain)
	waitFor(b, 5*time.Second, "echo to be placed", func() bool { _, err := n.Locate("echo", "a"); return err == nil })
	payload := wrapperspb.String("ping")
	ids := benchIDs(b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(250)
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[int(next.Add(1)-1)%len(ids)]
			if _, err := n.Call(context.Background(), mesh.Request{Capability: "echo", ID: id, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCallRemote: warm calls from a node that hosts nothing to
// processes on another node of the same process, over loopback gRPC.
func BenchmarkCallRemote(b *testing.B) { benchCallRemote(b, nil) }

// BenchmarkCallRemoteTLS is BenchmarkCallRemote over mutual TLS, with
// certificates from LoadTLS: what TLS costs a cross-node call under load.
func BenchmarkCallRemoteTLS(b *testing.B) { benchCallRemote(b, newTestCA(b, "bench").node) }

func benchCallRemote(b *testing.B, edit func(*mesh.Config)) {
	client := remotePair(b, edit)
	benchCalls(b, client, benchIDs(1000), 32)
}

// remotePair starts a node hosting echo and a client node that hosts
// nothing, both configured by edit, and returns the client once it can
// place echo.
func remotePair(b *testing.B, edit func(*mesh.Config)) *mesh.Node {
	b.Helper()
	host := startNodeWith(b, "host", nil, edit, echoPlain)
	client := startNodeWith(b, "client", []string{host.GossipAddr()}, edit)
	waitFor(b, 10*time.Second, "client to place echo", func() bool { _, err := client.Locate("echo", "a"); return err == nil })
	return client
}

// BenchmarkCallRemoteSequential: one caller's warm calls, one after
// another, to a process on another node of the same process: the latency
// of a cross-node call when nothing can be batched.
func BenchmarkCallRemoteSequential(b *testing.B) { benchCallRemoteSequential(b, nil) }

// BenchmarkCallRemoteSequentialTLS is BenchmarkCallRemoteSequential over
// mutual TLS: what TLS adds to the latency of one cross-node call.
func BenchmarkCallRemoteSequentialTLS(b *testing.B) {
	benchCallRemoteSequential(b, newTestCA(b, "bench").node)
}

func benchCallRemoteSequential(b *testing.B, edit func(*mesh.Config)) {
	client := remotePair(b, edit)
	ctx := context.Background()
	req := mesh.Request{Capability: "echo", ID: "a", Payload: wrapperspb.String("ping")}
	if _, err := client.Call(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if _, err := client.Call(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkRawRequestFuture is the ceiling of BenchmarkCallLocal: protoactor
// RequestFuture to known PIDs, with no routing.
func BenchmarkRawRequestFuture(b *testing.B) {
	system := pa.NewActorSystem(pa.WithLoggerFactory(func(*pa.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	props := pa.PropsFromFunc(func(c pa.Context) {
		if m, ok := c.Message().(*wrapperspb.StringValue); ok {
			c.Respond(m)
		}
	})
	pids := make([]*pa.PID, 1000)
	for i := range pids {
		pids[i] = system.Root.Spawn(props)
	}
	payload := wrapperspb.String("ping")
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pid := pids[int(next.Add(1))%len(pids)]
			if _, err := system.Root.RequestFuture(pid, payload, 5*time.Second).Result(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	for _, pid := range pids {
		_ = system.Root.StopFuture(pid).Wait()
	}
	system.Shutdown()
}

// cpuTime is the CPU time this process has used, user and system: every
// node of the benchmark runs in it, so it sums the caller's and the
// owner's work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// handoffLog catches the old owner's "handed off process states" lines.
type handoffLog struct {
	slog.Handler
	mu     sync.Mutex
	states int64
	took   time.Duration
}

func (h *handoffLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *handoffLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "handed off process states" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "states":
			h.states += a.Value.Int64()
		case "took":
			h.took = max(h.took, a.Value.Duration())
		}
		return true
	})
	return nil
}

func (h *handoffLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *handoffLog) WithGroup(string) slog.Handler      { return h }

// BenchmarkHandoff: a node holds 100,000 counters with state and a second
// node joins; it reports how many states moved, how fast the old owner
// handed them off (from the placement change to the last acknowledged
// batch), and how long until every moved counter had answered on its new
// owner with its state. Run it with -benchtime 1x.
func BenchmarkHandoff(b *testing.B) {
	const ids = 100_000
	for range b.N {
		b.StopTimer()
		log := &handoffLog{}
		a := startNodeWith(b, "node-1", nil, func(c *mesh.Config) { c.Logger = slog.New(log) }, counters)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < ids; i = next.Add(1) - 1 {
					if _, err := a.Call(context.Background(), mesh.Request{Capability: "counter", ID: fmt.Sprint("t-", i), Payload: wrapperspb.Int64(1)}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StartTimer()
		start := time.Now()
		c := startNode(b, "node-2", []string{a.GossipAddr()}, counters)
		waitConverged(b, a, c)
		var moved []string
		for i := range ids {
			id := fmt.Sprint("t-", i)
			if p, _ := c.Locate("counter", id); p.Owner == c.Name() {
				moved = append(moved, id)
			}
		}
		next.Store(0)
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(len(moved)); i = next.Add(1) - 1 {
					reply, err := c.Call(context.Background(), mesh.Request{Capability: "counter", ID: moved[i], Payload: wrapperspb.String("get")})
					if err != nil {
						b.Error(err)
						return
					}
					if got := reply.(*wrapperspb.Int64Value).GetValue(); got != 1 {
						b.Errorf("%s counts %d on its new owner, want 1", moved[i], got)
						return
					}
				}
			}()
		}
		wg.Wait()
		answered := time.Since(start)
		b.StopTimer()
		waitFor(b, 20*time.Second, "the old owner's handoff to end", func() bool {
			log.mu.Lock()
			defer log.mu.Unlock()
			return log.states > 0
		})
		log.mu.Lock()
		b.ReportMetric(float64(len(moved)), "moved")
		b.ReportMetric(float64(log.states), "handed-off")
		if log.took > 0 {
			b.ReportMetric(float64(log.states)/log.took.Seconds(), "handoffs/s")
		}
		b.ReportMetric(answered.Seconds(), "s-to-all-answered")
		log.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = c.Close(ctx)
		_ = a.Close(ctx)
		cancel()
	}
}
