package mesh_test

import (
	"context"
	"fmt"
	"log/slog"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
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
