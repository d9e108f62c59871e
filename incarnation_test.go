package mesh_test

// Identity across restarts: a node killed and restarted at once under the
// same name and ports makes new actors numbered from 1, so PIDs that
// callers cached before the restart name other activations now.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// misapplied counts, in one OS process, the tally messages that a process
// handled although they named another ID.
var misapplied atomic.Int64

// tally is a capability whose processes count the messages that name their
// own ID ("<id>"), and count in misapplied those that name another one.
// They reply "<node>/<id>/<count>/<misapplied>".
func tally(node string) mesh.Capability {
	return mesh.Capability{Name: "tally", New: func(string) mesh.Process {
		var count int
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			if msg.(*wrapperspb.StringValue).GetValue() == ctx.ID() {
				count++
			} else {
				misapplied.Add(1)
			}
			return wrapperspb.String(fmt.Sprintf("%s/%s/%d/%d", node, ctx.ID(), count, misapplied.Load())), nil
		})
	}}
}

// tallyReply is a parsed tally reply.
type tallyReply struct {
	node, id          string
	count, misapplied int
}

// parseTally parses a tally reply; a malformed one parses as a reply from
// the process of ID "?".
func parseTally(m proto.Message) tallyReply {
	s, _ := m.(*wrapperspb.StringValue)
	parts := strings.Split(s.GetValue(), "/")
	if len(parts) != 4 {
		return tallyReply{id: "?"}
	}
	count, err1 := strconv.Atoi(parts[2])
	mis, err2 := strconv.Atoi(parts[3])
	if err1 != nil || err2 != nil {
		return tallyReply{id: "?"}
	}
	return tallyReply{node: parts[0], id: parts[1], count: count, misapplied: mis}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestKilledAndRestartedOwnerNeverServesAnotherID kills one of two owner
// processes with SIGKILL while a third node calls and casts to IDs whose
// PIDs it has cached, and restarts it at once on the same name and ports,
// so the caller never sees it leave. The new process joins no seed: the
// caller then learns of its new incarnation only at a later push-pull of
// the gossip, and until then its cached PIDs reach the new process, whose
// actors are numbered anew in the order the caller's retries make them,
// so the PIDs name other IDs' activations. No reply may come from the
// process of another ID, no message may count on another ID's counter, the
// new process must have refused stale PIDs, and every ID must answer
// correctly again.
func TestKilledAndRestartedOwnerNeverServesAnotherID(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OS processes")
	}
	other := startChild(t, "node-c", "", nil)
	gossip, remote := freeAddr(t), freeAddr(t)
	victim := startChildAt(t, "node-b", gossip, remote, []string{other.gossip})
	caller := startNode(t, "node-a", []string{other.gossip, victim.gossip})
	waitOffering(t, caller, "tally", 2)

	ids := make([]string, 300)
	var onVictim []string
	for i := range ids {
		ids[i] = fmt.Sprintf("t-%d", i)
		r := parseTally(mustCallTally(t, caller, ids[i]))
		if r.id != ids[i] {
			t.Fatalf("warm-up call for %s answered by %s", ids[i], r.id)
		}
		if r.node == victim.name {
			onVictim = append(onVictim, ids[i])
		}
	}
	if len(onVictim) < 20 {
		t.Fatalf("the victim owns %d of %d IDs; want at least 20", len(onVictim), len(ids))
	}

	var (
		mu       sync.Mutex // guards the figures below
		calls    int
		failed   int
		wrong    []string
		untyped  []error
		worstMis int
	)
	victimName := victim.name // victim is replaced on restart
	// The load takes gate for reading around every message; the restart
	// takes it for writing, so that no message fails during it and drops
	// its cached PID.
	var gate sync.RWMutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := onVictim[rng.IntN(len(onVictim))]
				gate.RLock()
				if w == 3 {
					// Casts through the same cached PIDs.
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_ = caller.Cast(ctx, mesh.Request{Capability: "tally", ID: id, Payload: wrapString(id)})
					cancel()
					gate.RUnlock()
					time.Sleep(time.Millisecond)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				reply, err := caller.Call(ctx, mesh.Request{Capability: "tally", ID: id, Payload: wrapString(id)})
				cancel()
				gate.RUnlock()
				mu.Lock()
				calls++
				switch {
				case err != nil:
					failed++
					if !errors.Is(err, mesh.ErrDeadlineExceeded) && !errors.Is(err, mesh.ErrUnreachable) {
						untyped = append(untyped, err)
					}
				default:
					r := parseTally(reply)
					if r.id != id {
						wrong = append(wrong, fmt.Sprintf("call for %s answered by the process of %s", id, r.id))
					}
					if r.node == victimName {
						worstMis = max(worstMis, r.misapplied)
					}
				}
				mu.Unlock()
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// Whether the caller sends to a cached PID of the old process before
	// gossip tells it of the new incarnation is a race: on a busy machine
	// gossip may win every time. The kill and restart are done again, up
	// to three times, until the new process has refused a stale PID;
	// every round is checked for wrong answers alike.
	var down time.Duration
	refused := 0.0
	for round := 1; round <= 3 && refused == 0; round++ {
		time.Sleep(500 * time.Millisecond)
		gate.Lock()
		killed := time.Now()
		victim.kill(t)
		victim = startChildAt(t, victim.name, gossip, remote, nil)
		down = max(down, time.Since(killed))
		gate.Unlock()
		time.Sleep(4 * time.Second)
		refused = scrapeCounter(t, victim.admin, "mesh_misaddressed_total")
		if refused == 0 {
			t.Logf("round %d: the caller learnt of the restart before it used a stale PID", round)
		}
	}
	close(stop)
	wg.Wait()

	// After the load, every ID of the victim answers from its own process,
	// and no message was counted on another ID's counter.
	for _, id := range onVictim {
		r := parseTally(mustCallTally(t, caller, id))
		if r.id != id {
			wrong = append(wrong, fmt.Sprintf("final call for %s answered by the process of %s", id, r.id))
		}
		worstMis = max(worstMis, r.misapplied)
	}
	refused = scrapeCounter(t, victim.admin, "mesh_misaddressed_total")
	mu.Lock()
	defer mu.Unlock()
	t.Logf("kill -9 and restart of %s in %v; %d IDs on it; %d calls during the load, %d failed (typed); "+
		"%d replies from another ID's process; %d messages counted on another ID's counter; "+
		"%v messages to stale PIDs refused by the new process",
		victim.name, down.Round(time.Millisecond), len(onVictim), calls, failed, len(wrong), worstMis, refused)
	if len(wrong) > 0 {
		t.Errorf("%d replies from the wrong process, e.g. %s", len(wrong), wrong[0])
	}
	if worstMis > 0 {
		t.Errorf("%d messages were counted on the counter of another ID", worstMis)
	}
	if len(untyped) > 0 {
		t.Errorf("%d calls failed with an untyped error, e.g. %v", len(untyped), untyped[0])
	}
	if refused == 0 {
		t.Errorf("the new process refused no stale PID: the test did not exercise what it is for")
	}
	if down > 5*time.Second {
		t.Errorf("the restart took %v: it was not immediate", down)
	}
}

// scrapeCounter reads the value of an unlabelled counter from the
// Prometheus metrics of the admin endpoint at addr.
func scrapeCounter(t *testing.T, addr, name string) float64 {
	t.Helper()
	v, found := scrapeSum(t, addr, name+" ")
	if !found {
		t.Fatalf("no %s in the metrics of %s", name, addr)
	}
	return v
}

// scrapeSum adds up the samples of the node at addr whose line begins
// with prefix, such as `mesh_handoffs_total{capability="c",result="sent"} `
// or a metric's name and a space, and reports whether there was any.
func scrapeSum(t *testing.T, addr, prefix string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum, found := 0.0, false
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, prefix) {
			f, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			sum, found = sum+f, true
		}
	}
	return sum, found
}

// mustCallTally calls tally/id with id as the message, retrying until a
// 10 s deadline, and fails the test if it does not answer.
func mustCallTally(t *testing.T, n *mesh.Node, id string) proto.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, time.Second)
		reply, err := n.Call(attempt, mesh.Request{Capability: "tally", ID: id, Payload: wrapString(id)})
		stop()
		if err == nil {
			return reply
		}
		if ctx.Err() != nil {
			t.Fatalf("tally/%s did not answer: %v", id, err)
		}
	}
}
