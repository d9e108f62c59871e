package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// counter is a counter whose state moves with it: an Int64Value increments
// it and answers the new count, a StringValue reads it.
type counter struct{ n int64 }

func (c *counter) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	if _, ok := msg.(*wrapperspb.Int64Value); ok {
		c.n++
		ctx.Changed()
	}
	return wrapperspb.Int64(c.n), nil
}

func (c *counter) Snapshot() (proto.Message, uint32, error) { return wrapperspb.Int64(c.n), 1, nil }

func (c *counter) Restore(state proto.Message, format uint32) error {
	if format != 1 {
		return fmt.Errorf("counter state format %d, want 1", format)
	}
	c.n = state.(*wrapperspb.Int64Value).GetValue()
	return nil
}

var counters = mesh.Capability{Name: "counter", New: func(string) mesh.Process { return &counter{} }}

// counterLoad increments counters from a node until stop, counting what
// each call acknowledged.
type counterLoad struct {
	from   *mesh.Node
	ids    int
	acked  []atomic.Int64
	calls  atomic.Int64
	failed atomic.Int64
	first  atomic.Value
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startCounterLoad(from *mesh.Node, ids, workers int) *counterLoad {
	l := &counterLoad{from: from, ids: ids, acked: make([]atomic.Int64, ids), stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// Each worker owns the IDs congruent to it, so that one
			// call per ID is in flight and the counts need no lock.
			for i := w; ; i = (i + workers) % ids {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := from.Call(ctx, mesh.Request{Capability: "counter", ID: fmt.Sprint("t-", i), Payload: wrapperspb.Int64(1)})
				cancel()
				l.calls.Add(1)
				if err != nil {
					l.failed.Add(1)
					l.first.CompareAndSwap(nil, err.Error())
					continue
				}
				l.acked[i].Add(1)
			}
		}()
	}
	return l
}

func (l *counterLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

// finish ends the load and fails t if a call failed or a counter is not
// its number of acknowledged increments.
func (l *counterLoad) finish(t *testing.T) {
	t.Helper()
	l.end()
	t.Logf("%d increments, %d failed", l.calls.Load(), l.failed.Load())
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d calls failed; first: %v", n, l.first.Load())
	}
	l.check(t)
}

// closeGracefully closes n within 20 s, failing t if the drain was not
// complete, and returns how long it took.
func closeGracefully(t *testing.T, n *mesh.Node) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := n.Close(ctx); err != nil {
		t.Errorf("close %s: %v", n.Name(), err)
	}
	return time.Since(start)
}

// check reads every counter and fails t for each that is not its number
// of acknowledged increments.
func (l *counterLoad) check(t *testing.T) {
	t.Helper()
	wrong := 0
	for i := range l.ids {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reply, err := l.from.Call(ctx, mesh.Request{Capability: "counter", ID: fmt.Sprint("t-", i), Payload: wrapperspb.String("get")})
		cancel()
		if err != nil {
			t.Fatalf("read t-%d: %v", i, err)
		}
		if got, want := reply.(*wrapperspb.Int64Value).GetValue(), l.acked[i].Load(); got != want {
			if wrong < 5 {
				t.Errorf("t-%d counts %d, %d increments were acknowledged", i, got, want)
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d counters lost acknowledged increments", wrong, l.ids)
	}
}

// TestHandoffKeepsEveryIncrement: with calls throughout, a node joins,
// one drains and leaves, and every node is restarted in turn through
// Close; every counter ends at its number of acknowledged increments and
// no call fails.
func TestHandoffKeepsEveryIncrement(t *testing.T) {
	client := startNode(t, "client", nil)
	seeds := []string{client.GossipAddr()}
	nodes := map[string]*mesh.Node{}
	for i := range 3 {
		name := fmt.Sprint("node-", i+1)
		nodes[name] = startNode(t, name, seeds, counters)
	}
	all := func() []*mesh.Node {
		out := []*mesh.Node{client}
		for _, n := range nodes {
			out = append(out, n)
		}
		return out
	}
	waitConverged(t, all()...)

	load := startCounterLoad(client, 1000, 16)
	pause := func() { time.Sleep(300 * time.Millisecond) }
	closeNode := func(name string) {
		t.Helper()
		t.Logf("%s closed in %v", name, closeGracefully(t, nodes[name]).Round(time.Millisecond))
		delete(nodes, name)
		waitConverged(t, all()...)
	}
	pause()

	nodes["node-4"] = startNode(t, "node-4", seeds, counters)
	waitConverged(t, all()...)
	pause()

	closeNode("node-2")
	pause()

	for _, name := range []string{"node-1", "node-3", "node-4"} {
		closeNode(name)
		nodes[name] = startNode(t, name, seeds, counters)
		waitConverged(t, all()...)
		pause()
	}
	load.finish(t)
}

// TestHandoffRefusedStartsEmpty: a process that refuses its handed-off
// state starts empty on its new owner, and answers.
func TestHandoffRefusedStartsEmpty(t *testing.T) {
	var refusals atomic.Int64
	picky := mesh.Capability{Name: "counter", New: func(string) mesh.Process { return &pickyCounter{refusals: &refusals} }}
	a := startNode(t, "node-1", nil, picky)
	for i := range 50 {
		mustIncrement(t, a, fmt.Sprint("t-", i))
	}
	b := startNode(t, "node-2", []string{a.GossipAddr()}, picky)
	waitConverged(t, a, b)
	for i := range 50 {
		if _, err := a.Call(context.Background(), mesh.Request{Capability: "counter", ID: fmt.Sprint("t-", i), Payload: wrapperspb.String("get")}); err != nil {
			t.Fatalf("t-%d after its state was refused: %v", i, err)
		}
	}
	if refusals.Load() == 0 {
		t.Fatal("no state was offered to the new owner")
	}
}

type pickyCounter struct {
	counter
	refusals *atomic.Int64
}

func (p *pickyCounter) Restore(proto.Message, uint32) error {
	p.refusals.Add(1)
	return errors.New("format not understood")
}

func mustIncrement(t *testing.T, n *mesh.Node, id string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.Int64(1)})
	if err != nil {
		t.Fatalf("increment %s: %v", id, err)
	}
	return reply.(*wrapperspb.Int64Value).GetValue()
}

// TestDrainHandsOffAndKeepsServingCalls: a drained node owns no shard,
// its processes' states are on the other nodes, and it can still call.
func TestDrainHandsOffAndKeepsServingCalls(t *testing.T) {
	a := startNode(t, "node-1", nil, counters)
	b := startNode(t, "node-2", []string{a.GossipAddr()}, counters)
	waitConverged(t, a, b)
	want := map[string]int64{}
	for i := range 200 {
		id := fmt.Sprint("t-", i)
		for range i % 5 {
			want[id] = mustIncrement(t, a, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if acts := b.Activations(); len(acts) != 0 {
		t.Fatalf("%d activations left on the drained node", len(acts))
	}
	for id, n := range want {
		// From the drained node: it still calls, and every count
		// survived the move to node-1.
		reply, err := b.Call(ctx, mesh.Request{Capability: "counter", ID: id, Payload: wrapperspb.String("get")})
		if err != nil {
			t.Fatalf("call %s from the drained node: %v", id, err)
		}
		if got := reply.(*wrapperspb.Int64Value).GetValue(); got != n {
			t.Fatalf("%s counts %d after the drain, want %d", id, got, n)
		}
		if p, _ := a.Locate("counter", id); p.Owner != a.Name() {
			t.Fatalf("%s placed on %s after node-2 drained", id, p.Owner)
		}
	}
	if err := b.Drain(ctx); err != nil {
		t.Fatalf("a second Drain: %v", err)
	}
	handedOff := 0
	for _, act := range a.Activations() {
		if act.Origin == "handoff" {
			handedOff++
		}
	}
	if handedOff == 0 {
		t.Error("no activation on node-1 says its state was handed off")
	}
}

// TestHandoffAcrossProcesses is TestHandoffKeepsEveryIncrement with every
// serving node an OS process, closed by SIGTERM: a fourth joins, one
// drains and leaves, and every one is restarted in turn.
func TestHandoffAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OS processes")
	}
	client := startNode(t, "client", nil)
	seeds := []string{client.GossipAddr()}
	children := map[string]*child{}
	for i := range 3 {
		name := fmt.Sprint("node-", i+1)
		children[name] = startChild(t, name, "", seeds)
	}
	waitOffering(t, client, "counter", 3)
	load := startCounterLoad(client, 1000, 16)
	pause := func() { time.Sleep(500 * time.Millisecond) }
	// restored counts the states each node life restored, read before it
	// ends.
	restored := 0.0
	restoredBy := func(c *child) float64 {
		v, _ := scrapeSum(t, c.admin, `mesh_handoffs_total{capability="counter",result="restored"} `)
		return v
	}
	pause()

	children["node-4"] = startChild(t, "node-4", "", seeds)
	waitOffering(t, client, "counter", 4)
	t.Logf("node-4 joined; %d increments so far", load.calls.Load())
	pause()

	t.Logf("node-4 restored %v states at its join", restoredBy(children["node-4"]))
	restored += restoredBy(children["node-2"])
	t.Logf("node-2 drained and left in %v", children["node-2"].stop(t).Round(time.Millisecond))
	delete(children, "node-2")
	waitOffering(t, client, "counter", 3)
	pause()

	for _, name := range []string{"node-1", "node-3", "node-4"} {
		restored += restoredBy(children[name])
		took := children[name].stop(t)
		waitOffering(t, client, "counter", 2)
		children[name] = startChild(t, name, "", seeds)
		waitOffering(t, client, "counter", 3)
		t.Logf("%s restarted (its Close took %v)", name, took.Round(time.Millisecond))
		pause()
	}
	load.end()
	for _, c := range children {
		restored += restoredBy(c)
	}
	t.Logf("%d increments, %d failed; %v process states handed off and restored", load.calls.Load(), load.failed.Load(), restored)
	if n := load.failed.Load(); n > 0 {
		t.Errorf("%d calls failed; first: %v", n, load.first.Load())
	}
	if restored == 0 {
		t.Error("no state was handed off")
	}
	load.check(t)
}

// TestHandoffFromAHostingNode: the same changes with the calls made from a
// node that hosts counters itself, whose local path must not serve an
// empty process ahead of the state on its way: node-4 joins, node-2
// drains and leaves, node-3 is restarted.
func TestHandoffFromAHostingNode(t *testing.T) {
	a := startNode(t, "node-1", nil, counters)
	seeds := []string{a.GossipAddr()}
	b := startNode(t, "node-2", seeds, counters)
	c := startNode(t, "node-3", seeds, counters)
	waitConverged(t, a, b, c)
	load := startCounterLoad(a, 1000, 16)
	pause := func() { time.Sleep(300 * time.Millisecond) }
	pause()
	d := startNode(t, "node-4", seeds, counters)
	waitConverged(t, a, b, c, d)
	pause()
	closeGracefully(t, b)
	waitConverged(t, a, c, d)
	pause()
	closeGracefully(t, c)
	waitConverged(t, a, d)
	c = startNode(t, "node-3", seeds, counters)
	waitConverged(t, a, c, d)
	pause()
	load.finish(t)
}

// TestUnregisterHandsOff: a node that withdraws a capability hands its
// processes' states to the nodes that still offer it.
func TestUnregisterHandsOff(t *testing.T) {
	a := startNode(t, "node-1", nil, counters)
	b := startNode(t, "node-2", []string{a.GossipAddr()}, counters)
	waitConverged(t, a, b)
	for i := range 100 {
		mustIncrement(t, a, fmt.Sprint("t-", i))
	}
	if err := b.UnregisterCapabilities("counter"); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, a, b)
	for i := range 100 {
		if got := read(t, a, fmt.Sprint("t-", i)); got != 1 {
			t.Fatalf("t-%d counts %d after node-2 withdrew the capability, want 1", i, got)
		}
	}
}
