package activation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func newSystem(t *testing.T) *pa.ActorSystem {
	t.Helper()
	s := pa.NewActorSystem(pa.WithLoggerFactory(func(*pa.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(s.Shutdown)
	return s
}

// counter replies with how many messages it has handled.
type counter struct{ n int64 }

func (c *counter) Handle(actor.Context, proto.Message) (proto.Message, error) {
	c.n++
	return wrapperspb.Int64(c.n), nil
}

func ask(t *testing.T, s *pa.ActorSystem, pid *pa.PID) Response {
	t.Helper()
	ch := make(chan Response, 1)
	s.Root.Send(pid, &Request{Payload: wrapperspb.String("x"), Reply: ch})
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	return Response{}
}

func TestEnsureSpawnsOnce(t *testing.T) {
	s := newSystem(t)
	var made atomic.Int64
	table := NewTable(s, TableConfig{
		Self: "self",
		Factory: func(c string) (actor.Factory, bool) {
			return func(string) actor.Process { made.Add(1); return &counter{} }, c == "count"
		},
		Owner: func(string, uint32) (string, uint64) { return "self", 1 },
	})
	var wg sync.WaitGroup
	pids := make([]*pa.PID, 500)
	for i := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid, err := table.Ensure("count", "one", 7)
			if err != nil {
				t.Error(err)
			}
			pids[i] = pid
		}()
	}
	wg.Wait()
	for _, pid := range pids {
		if !pid.Equal(pids[0]) {
			t.Fatalf("two activations: %v and %v", pid, pids[0])
		}
	}
	if got := ask(t, s, pids[0]); got.Err != nil || got.Payload.(*wrapperspb.Int64Value).GetValue() != 1 {
		t.Fatalf("first answer %+v", got)
	}
	if made.Load() != 1 || table.Len() != 1 {
		t.Fatalf("%d processes made, %d activations", made.Load(), table.Len())
	}
	if _, err := table.Ensure("other", "one", 7); err == nil {
		t.Fatal("a capability without a factory was activated")
	}
}

func TestStopWhereLingersThenGoes(t *testing.T) {
	s := newSystem(t)
	table := NewTable(s, TableConfig{
		Self:    "self",
		Factory: func(string) (actor.Factory, bool) { return func(string) actor.Process { return &counter{} }, true },
		Owner:   func(string, uint32) (string, uint64) { return "self", 1 },
		Linger:  50 * time.Millisecond,
	})
	var pids []*pa.PID
	for i := range 10 {
		pid, err := table.Ensure("count", fmt.Sprint(i), uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	stopped := table.StopWhere(func(_ string, shard uint32) (actor.StopReason, string) {
		if shard%2 == 0 {
			return actor.StopMoved, "other"
		}
		return 0, ""
	})
	if stopped.Len() != 5 || table.Len() != 5 {
		t.Fatalf("stopped %d, %d left", stopped.Len(), table.Len())
	}
	// A stopped activation still answers, with ErrMoved, while it lingers.
	if got := ask(t, s, pids[0]); got.Err != ErrMoved {
		t.Fatalf("lingering activation answered %+v", got)
	}
	if got := ask(t, s, pids[1]); got.Err != nil {
		t.Fatalf("activation kept answered %+v", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, alive := s.ProcessRegistry.Get(pids[0]); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stopped activation never went away")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := table.StopAll(actor.StopClosing).Len(); n != 5 || table.Len() != 0 {
		t.Fatalf("StopAll stopped %d, %d left", n, table.Len())
	}
}

// blockedStopper's Stop waits for release, and records that it ran.
type blockedStopper struct {
	counter
	release <-chan struct{}
	stopped *atomic.Int64
}

func (p *blockedStopper) Stop(actor.Context, actor.StopReason, string) {
	<-p.release
	p.stopped.Add(1)
}

// TestStoppingCompletes: waiting on a stop returns once every stopped
// activation's Stop has run, and no sooner; ctx bounds the wait.
func TestStoppingCompletes(t *testing.T) {
	s := newSystem(t)
	var stopped atomic.Int64
	release := make(chan struct{})
	table := NewTable(s, TableConfig{
		Self: "self",
		Factory: func(string) (actor.Factory, bool) {
			return func(string) actor.Process { return &blockedStopper{release: release, stopped: &stopped} }, true
		},
		Owner: func(string, uint32) (string, uint64) { return "self", 1 },
	})
	for i := range 20 {
		pid, err := table.Ensure("stop", fmt.Sprint(i), uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		ask(t, s, pid) // make the process
	}
	st := table.StopWhere(func(string, uint32) (actor.StopReason, string) { return actor.StopMoved, "other" })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := st.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while every Stop is blocked: %v, want the ctx's deadline", err)
	}
	close(release)
	if err := st.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stopped.Load(); got != 20 {
		t.Fatalf("Wait returned with %d of 20 Stops run", got)
	}
}

func TestCache(t *testing.T) {
	c := NewCache(stripes * 2) // two entries per stripe
	pid := func(id string) *pa.PID { return pa.NewPID("n1:1", id) }
	c.Put("cap", "a", 3, Cached{PID: pid("p1"), Owner: "n1", Version: 7})
	if got, ok := c.Get("cap", "a", 3); !ok || got.Owner != "n1" || got.Version != 7 || !got.PID.Equal(pid("p1")) {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	if _, ok := c.Get("other", "a", 3); ok {
		t.Fatal("an entry leaked across capabilities")
	}
	c.Drop("cap", "a", 3, pid("p2")) // another PID: kept
	if _, ok := c.Get("cap", "a", 3); !ok {
		t.Fatal("Drop removed an entry naming another PID")
	}
	c.Drop("cap", "a", 3, pid("p1"))
	if _, ok := c.Get("cap", "a", 3); ok {
		t.Fatal("Drop kept the entry")
	}
	// Bounded: a stripe never holds more than its share.
	for i := range 10 {
		c.Put("cap", fmt.Sprint("id-", i), 5, Cached{PID: pid("p"), Owner: "n2"})
	}
	n := 0
	for i := range 10 {
		if _, ok := c.Get("cap", fmt.Sprint("id-", i), 5); ok {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("a stripe bounded to 2 holds %d", n)
	}
	c.DropNode("n2")
	for i := range 10 {
		if _, ok := c.Get("cap", fmt.Sprint("id-", i), 5); ok {
			t.Fatal("DropNode kept an entry of the node")
		}
	}
}

// TestEntryFitsItsSizeClass: there is one entry per activation, and at a
// million of them every 16 bytes past Go's 48-byte size class cost 16 MB;
// the per-activation heap target (bench M) has no room for it.
func TestEntryFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(entry{}); size > 48 {
		t.Fatalf("an entry takes %d bytes, past the 48-byte size class", size)
	}
}
