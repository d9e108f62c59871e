package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crash"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// listeners records, per "node/id", the broadcasts its processes got.
type listeners struct {
	mu   sync.Mutex
	got  map[string][]string // guarded by mu
	made atomic.Int64
}

// capability is "listener" on node: a call answers "ok", a cast is
// recorded if Context.Cast says it is one.
func (l *listeners) capability(node string) mesh.Capability {
	return mesh.Capability{Name: "listener", New: func(id string) mesh.Process {
		l.made.Add(1)
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			if !ctx.Cast() {
				return wrapString("ok"), nil
			}
			v := msg.(*wrapperspb.StringValue)
			l.mu.Lock()
			l.got[id] = append(l.got[id], node+":"+v.GetValue())
			l.mu.Unlock()
			// A process that changes its copy changes no one else's.
			v.Value = "changed by " + id
			return nil, nil
		})
	}}
}

func (l *listeners) received() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]string, len(l.got))
	for k, v := range l.got {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// startListeners starts three nodes offering listener and activates ids
// on them by calls; it returns the nodes and where each ID lives.
func startListeners(t *testing.T, l *listeners, ids int, edit func(*mesh.Config)) ([]*mesh.Node, map[string]string) {
	t.Helper()
	var nodes []*mesh.Node
	var seeds []string
	for i := range 3 {
		name := fmt.Sprint("node-", i+1)
		n := startNodeWith(t, name, seeds, edit, l.capability(name))
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	waitConverged(t, nodes...)
	where := map[string]string{}
	for i := range ids {
		id := fmt.Sprint("l-", i)
		// A node that just joined holds the first messages of the shards
		// it takes over until their handoffs end: more than a short call
		// waits on a busy machine.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := nodes[i%3].Call(ctx, mesh.Request{Capability: "listener", ID: id, Payload: wrapString("x")})
		cancel()
		if err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
		p, err := nodes[0].Locate("listener", id)
		if err != nil {
			t.Fatal(err)
		}
		where[id] = p.Owner
	}
	return nodes, where
}

// TestBroadcast: a broadcast from one node reaches every active process
// of the capability on the three nodes once, each with its own copy, and
// activates no other ID; the result counts the nodes and processes, and
// the metrics count the broadcast.
func TestBroadcast(t *testing.T) {
	l := &listeners{got: map[string][]string{}}
	const ids = 30
	nodes, where := startListeners(t, l, ids, nil)
	perNode := map[string]int{}
	for _, owner := range where {
		perNode[owner]++
	}
	if len(perNode) != 3 {
		t.Fatalf("the IDs live on %d nodes, want 3: %v", len(perNode), perNode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := nodes[1].Broadcast(ctx, "listener", wrapString("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes != 3 || res.Processes != ids || len(res.Failed) != 0 {
		t.Fatalf("result %+v, want 3 nodes, %d processes", res, ids)
	}
	waitFor(t, 10*time.Second, "every process to receive the broadcast", func() bool { return len(l.received()) == ids })
	// Casts are handed on: give a duplicate time to arrive.
	time.Sleep(100 * time.Millisecond)
	for id, got := range l.received() {
		if len(got) != 1 || got[0] != where[id]+":hello" {
			t.Errorf("%s (on %s) received %q, want once on its node", id, where[id], got)
		}
	}
	if made := l.made.Load(); made != ids {
		t.Errorf("%d processes made, want %d: the broadcast activated some", made, ids)
	}
	if got := len(nodes[0].Activations()) + len(nodes[1].Activations()) + len(nodes[2].Activations()); got != ids {
		t.Errorf("%d activations, want %d", got, ids)
	}
	if v := counterValue(t, nodes[1], "mesh_broadcasts_total", map[string]string{"capability": "listener", "outcome": "ok"}); v != 1 {
		t.Errorf("mesh_broadcasts_total ok = %v, want 1", v)
	}
	if v := counterValue(t, nodes[1], "mesh_broadcast_deliveries_total", map[string]string{"capability": "listener"}); v != ids {
		t.Errorf("mesh_broadcast_deliveries_total = %v, want %d", v, ids)
	}
}

// TestBroadcastNodeDown: a node killed just before a broadcast, which the
// others still count as a member, is reported as not reached, with
// ErrUnreachable; the others' processes get the message, and the error
// wraps ErrBroadcastIncomplete.
func TestBroadcastNodeDown(t *testing.T) {
	l := &listeners{got: map[string][]string{}}
	const ids = 18
	nodes, where := startListeners(t, l, ids, nil)
	victim := nodes[2]
	crash.Node(victim)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := nodes[0].Broadcast(ctx, "listener", wrapString("hi"))
	if !errors.Is(err, mesh.ErrBroadcastIncomplete) || !errors.Is(err, mesh.ErrUnreachable) {
		t.Fatalf("err %v, want ErrBroadcastIncomplete and ErrUnreachable", err)
	}
	if len(res.Failed) != 1 || res.Failed[0].Node != victim.Name() || !errors.Is(res.Failed[0].Err, mesh.ErrUnreachable) {
		t.Fatalf("failed %+v, want %s unreachable", res.Failed, victim.Name())
	}
	alive := 0
	for _, owner := range where {
		if owner != victim.Name() {
			alive++
		}
	}
	if res.Nodes != 2 || res.Processes != alive {
		t.Errorf("result %+v, want 2 nodes and %d processes", res, alive)
	}
	if v := counterValue(t, nodes[0], "mesh_broadcasts_total", map[string]string{"capability": "listener", "outcome": "partial"}); v != 1 {
		t.Errorf("mesh_broadcasts_total partial = %v, want 1", v)
	}
}

// TestBroadcastRefused: bad input fails at once with a typed error and
// sends nothing.
func TestBroadcastRefused(t *testing.T) {
	l := &listeners{got: map[string][]string{}}
	nodes, _ := startListeners(t, l, 3, func(c *mesh.Config) { c.MaxPayload = 1024 })
	n := nodes[0]
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		capability string
		payload    proto.Message
		want       error
	}{
		{"empty capability", ctx, "", wrapString("x"), mesh.ErrInvalidRequest},
		{"invalid capability", ctx, "no spaces allowed", wrapString("x"), mesh.ErrInvalidRequest},
		{"nil payload", ctx, "listener", nil, mesh.ErrInvalidRequest},
		{"too large", ctx, "listener", wrapString(strings.Repeat("x", 2000)), mesh.ErrPayloadTooLarge},
		{"no node offers it", ctx, "nobody", wrapString("x"), mesh.ErrNoNode},
		{"ctx ended", canceled, "listener", wrapString("x"), mesh.ErrCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := n.Broadcast(tc.ctx, tc.capability, tc.payload)
			if !errors.Is(err, tc.want) || res.Nodes != 0 || res.Processes != 0 {
				t.Errorf("got %+v, %v; want %v", res, err, tc.want)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if got := l.received(); len(got) != 0 {
		t.Errorf("refused broadcasts were delivered: %v", got)
	}
}

// BenchmarkBroadcast: one broadcast from node-1 to 300 active processes
// spread over three nodes, until every node has answered; it reports the
// processes reached per second.
func BenchmarkBroadcast(b *testing.B) {
	var handled atomic.Int64
	counting := func(string) mesh.Capability {
		return mesh.Capability{Name: "listener", New: func(string) mesh.Process {
			return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
				if ctx.Cast() {
					handled.Add(1)
					return nil, nil
				}
				return wrapString("ok"), nil
			})
		}}
	}
	var nodes []*mesh.Node
	var seeds []string
	for i := range 3 {
		name := fmt.Sprint("node-", i+1)
		n := startNode(b, name, seeds, counting(name))
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	waitConverged(b, nodes...)
	const ids = 300
	for i := range ids {
		if got := stringOf(mustCallCap(nodes[0], "listener", fmt.Sprint("l-", i))); got != "ok" {
			b.Fatal(got)
		}
	}
	payload := wrapString("tick")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		res, err := nodes[0].Broadcast(ctx, "listener", payload)
		if err != nil || res.Processes != ids {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.N*ids)/time.Since(start).Seconds(), "processes/s")
	b.StopTimer()
	waitFor(b, 30*time.Second, "every broadcast handled", func() bool { return handled.Load() == int64(b.N*ids) })
}

// TestNotUTF8CapabilityNames: a capability name that is not UTF-8 (a
// user's text, say) is an invalid request for a call, a cast and a
// broadcast, counted under the metrics' "(invalid)" label, never a panic
// of the metrics, whose labels must be UTF-8.
func TestNotUTF8CapabilityNames(t *testing.T) {
	n := startNode(t, "node-1", nil)
	ctx := context.Background()
	if _, err := n.Call(ctx, mesh.Request{Capability: "\xff", ID: "x", Payload: wrapString("x")}); !errors.Is(err, mesh.ErrInvalidRequest) {
		t.Errorf("call: %v, want ErrInvalidRequest", err)
	}
	if err := n.Cast(ctx, mesh.Request{Capability: "\xff", ID: "x", Payload: wrapString("x")}); !errors.Is(err, mesh.ErrInvalidRequest) {
		t.Errorf("cast: %v, want ErrInvalidRequest", err)
	}
	if _, err := n.Broadcast(ctx, "\xff", wrapString("x")); !errors.Is(err, mesh.ErrInvalidRequest) {
		t.Errorf("broadcast: %v, want ErrInvalidRequest", err)
	}
	if v := counterValue(t, n, "mesh_broadcasts_total", map[string]string{"capability": "(invalid)", "outcome": "invalid"}); v != 1 {
		t.Errorf(`mesh_broadcasts_total{capability="(invalid)"} = %v, want 1`, v)
	}
}

// TestBroadcastBoundsItsCopies: a broadcast whose copies for a node's
// processes would pass 64 MiB is refused by that node as overloaded, and
// hands none of them anything.
func TestBroadcastBoundsItsCopies(t *testing.T) {
	l := &listeners{got: map[string][]string{}}
	nodes, _ := startListeners(t, l, 120, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	big := wrapperspb.Bytes(make([]byte, 3_900_000)) // about 40 processes a node: ~156 MB of copies
	res, err := nodes[0].Broadcast(ctx, "listener", big)
	if !errors.Is(err, mesh.ErrBroadcastIncomplete) || !errors.Is(err, mesh.ErrOverloaded) {
		t.Fatalf("broadcast of 3.9 MB to 120 processes: %+v, %v; want ErrBroadcastIncomplete and ErrOverloaded", res, err)
	}
	if res.Processes != 0 || len(l.received()) != 0 {
		t.Fatalf("%d processes were handed the message (%d received)", res.Processes, len(l.received()))
	}
}
