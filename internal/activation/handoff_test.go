package activation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// keeper is a counter whose count is handed off.
type keeper struct{ counter }

func (k *keeper) Snapshot() (proto.Message, uint32, error) { return wrapperspb.Int64(k.n), 3, nil }

func (k *keeper) Restore(m proto.Message, format uint32) error {
	if format != 3 {
		return errors.New("unknown format")
	}
	k.n = m.(*wrapperspb.Int64Value).GetValue()
	return nil
}

func keeperTable(t *testing.T) *Table {
	s := newSystem(t)
	return NewTable(s, TableConfig{
		Self:    "self",
		Factory: func(string) (actor.Factory, bool) { return func(string) actor.Process { return &keeper{} }, true },
		Owner:   func(string, uint32) (string, uint64) { return "self", 1 },
	})
}

func state(t *testing.T, id string, shard uint32, n int64, format uint32) *wire.State {
	t.Helper()
	typ, b, err := wire.Pack(wrapperspb.Int64(n))
	if err != nil {
		t.Fatal(err)
	}
	return &wire.State{Id: id, Shard: shard, Type: typ, Data: b, Format: format}
}

// send sends a request and returns the channel its answer comes on.
func send(tb *Table, capability, id string, shard uint32) chan Response {
	ch := make(chan Response, 1)
	pid, err := tb.Ensure(capability, id, shard)
	if err != nil {
		ch <- Response{Err: err}
		return ch
	}
	tb.system.Root.Send(pid, &Request{Payload: wrapperspb.String("x"), Reply: ch})
	return ch
}

func count(t *testing.T, ch chan Response) int64 {
	t.Helper()
	select {
	case r := <-ch:
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r.Payload.(*wrapperspb.Int64Value).GetValue()
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	return 0
}

// TestExpectedShardWaitsForItsState: a message for an expected shard waits
// until the state comes, and is then handled by the restored process.
func TestExpectedShardWaitsForItsState(t *testing.T) {
	tb := keeperTable(t)
	tb.Expect("c", []uint32{7}, time.Now().Add(time.Minute))
	ch := send(tb, "c", "a", 7)
	select {
	case r := <-ch:
		t.Fatalf("answered %+v before its state came", r)
	case <-time.After(50 * time.Millisecond):
	}
	if restored, refused := tb.Restore("c", []*wire.State{state(t, "a", 7, 41, 3)}, []uint32{7}); restored != 1 || len(refused) != 0 {
		t.Fatalf("restored %d, refused %v", restored, refused)
	}
	if got := count(t, ch); got != 42 {
		t.Fatalf("count %d after restoring 41, want 42", got)
	}
}

// TestDoneReleasesShardsWithoutState: a shard named done with no state for
// an ID lets its waiting process start empty at once.
func TestDoneReleasesShardsWithoutState(t *testing.T) {
	tb := keeperTable(t)
	tb.Expect("c", []uint32{7, 8}, time.Now().Add(time.Minute))
	ch := send(tb, "c", "a", 7)
	tb.Restore("c", nil, []uint32{7})
	if got := count(t, ch); got != 1 {
		t.Fatalf("count %d, want 1", got)
	}
	// Shard 8 still waits; a state arriving for an ID that has no
	// activation yet makes one from it.
	tb.Restore("c", []*wire.State{state(t, "b", 8, 9, 3)}, []uint32{8})
	if got := count(t, send(tb, "c", "b", 8)); got != 10 {
		t.Fatalf("count %d, want 10", got)
	}
}

// TestWaitEndsAtItsDeadline: a state that never comes delays the first
// message only until the deadline.
func TestWaitEndsAtItsDeadline(t *testing.T) {
	tb := keeperTable(t)
	tb.Expect("c", []uint32{7}, time.Now().Add(100*time.Millisecond))
	start := time.Now()
	if got := count(t, send(tb, "c", "a", 7)); got != 1 {
		t.Fatalf("count %d, want 1", got)
	}
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Fatalf("answered after %v, before the wait ended", took)
	}
	// Past the deadline, new activations of the shard do not wait.
	start = time.Now()
	count(t, send(tb, "c", "b", 7))
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a new activation waited %v after the deadline", took)
	}
}

// TestLateStateDoesNotOverwrite: a state arriving for a process that has
// already served messages here is dropped; one in a format the process
// does not know leaves it empty.
func TestLateStateDoesNotOverwrite(t *testing.T) {
	tb := keeperTable(t)
	count(t, send(tb, "c", "a", 7))
	tb.Restore("c", []*wire.State{state(t, "a", 7, 100, 3)}, nil)
	if got := count(t, send(tb, "c", "a", 7)); got != 2 {
		t.Fatalf("count %d, want 2: the late state overwrote the process", got)
	}
	tb.Restore("c", []*wire.State{state(t, "b", 8, 100, 99)}, nil)
	if got := count(t, send(tb, "c", "b", 8)); got != 1 {
		t.Fatalf("count %d, want 1: a state of an unknown format was taken", got)
	}
}

// TestStashIsBounded: past maxStash held messages, a waiting process
// refuses more with ErrBusy instead of holding them all.
func TestStashIsBounded(t *testing.T) {
	tb := keeperTable(t)
	tb.Expect("c", []uint32{7}, time.Now().Add(time.Minute))
	var chans []chan Response
	for range maxStash + 10 {
		chans = append(chans, send(tb, "c", "a", 7))
	}
	busy := 0
	for _, ch := range chans[maxStash:] {
		select {
		case r := <-ch:
			if !errors.Is(r.Err, ErrBusy) {
				t.Fatalf("answer %+v, want ErrBusy", r)
			}
			busy++
		case <-time.After(5 * time.Second):
			t.Fatal("a message past the bound was held")
		}
	}
	tb.Restore("c", nil, []uint32{7})
	for i, ch := range chans[:maxStash] {
		if got := count(t, ch); got != int64(i+1) {
			t.Fatalf("held message %d answered %d: order lost", i, got)
		}
	}
	if busy != 10 {
		t.Fatalf("%d refused, want 10", busy)
	}
}

// TestStopHandsOffTheState: stopping an activation whose process can
// snapshot collects its state for the new owner.
func TestStopHandsOffTheState(t *testing.T) {
	tb := keeperTable(t)
	for range 5 {
		count(t, send(tb, "c", "a", 7))
	}
	st := tb.StopWhere(func(string, uint32) (actor.StopReason, string) { return actor.StopMoved, "other" })
	if err := st.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	snaps := st.Snapshots()
	if len(snaps) != 1 || snaps[0].To != "other" || snaps[0].Capability != "c" || snaps[0].State.GetId() != "a" || snaps[0].State.GetFormat() != 3 {
		t.Fatalf("snapshots %+v", snaps)
	}
	m, err := wire.Unpack(snaps[0].State.GetType(), snaps[0].State.GetData())
	if err != nil || m.(*wrapperspb.Int64Value).GetValue() != 5 {
		t.Fatalf("state %v, %v; want 5", m, err)
	}
}

// TestDoneBeforeExpect: an old owner that saw the change first may finish
// its handoff before this node expects it; the shard is then not waited
// for.
func TestDoneBeforeExpect(t *testing.T) {
	tb := keeperTable(t)
	tb.Restore("c", nil, []uint32{7})
	tb.Expect("c", []uint32{7}, time.Now().Add(time.Minute))
	start := time.Now()
	count(t, send(tb, "c", "a", 7))
	if took := time.Since(start); took > time.Second {
		t.Fatalf("waited %v for a handoff that had ended", took)
	}
}

// panicky is a keeper that panics on the message "boom".
type panicky struct{ keeper }

func (p *panicky) Handle(ctx actor.Context, msg proto.Message) (proto.Message, error) {
	if s, ok := msg.(*wrapperspb.StringValue); ok && s.GetValue() == "boom" {
		panic("boom")
	}
	return p.keeper.Handle(ctx, msg)
}

// TestPanicRestartsFromTheHandedOffState: without a store, a process that
// panics is made again from the state it was handed, not empty.
func TestPanicRestartsFromTheHandedOffState(t *testing.T) {
	s := newSystem(t)
	tb := NewTable(s, TableConfig{
		Self:    "self",
		Factory: func(string) (actor.Factory, bool) { return func(string) actor.Process { return &panicky{} }, true },
		Owner:   func(string, uint32) (string, uint64) { return "self", 1 },
	})
	tb.Restore("c", []*wire.State{state(t, "a", 7, 41, 3)}, []uint32{7})
	if got := count(t, send(tb, "c", "a", 7)); got != 42 {
		t.Fatalf("count %d, want 42", got)
	}
	pid, _ := tb.Ensure("c", "a", 7)
	ch := make(chan Response, 1)
	s.Root.Send(pid, &Request{Payload: wrapperspb.String("boom"), Reply: ch})
	if r := <-ch; !errors.Is(r.Err, actor.ErrProcessFailed) {
		t.Fatalf("boom answered %+v, want ErrProcessFailed", r)
	}
	if got := count(t, send(tb, "c", "a", 7)); got != 42 {
		t.Fatalf("count %d after the panic, want 42: made again from the handed-off 41", got)
	}
}

// summer is a keeper that merges a state by adding it: a process's own
// choice (it is not a join), plain to check here.
type summer struct{ keeper }

func (s *summer) Merge(m proto.Message, format uint32) error {
	if format != 3 {
		return errors.New("unknown format")
	}
	s.n += m.(*wrapperspb.Int64Value).GetValue()
	return nil
}

// TestStateForAServedProcessMergesOrDrops: a state that arrives for a
// process that already served messages, or already took another state, is
// given to its Merge when it has one; otherwise, or when Merge fails, it
// is dropped. Each result is counted.
func TestStateForAServedProcessMergesOrDrops(t *testing.T) {
	for _, tc := range []struct {
		name    string
		merger  bool
		format  uint32
		served  bool
		want    int64
		results string
	}{
		{"merged after serving", true, 3, true, 1 + 10 + 1, "merged"},
		{"merged after a state", true, 3, false, 5 + 10 + 1, "restored,merged"},
		{"dropped without Merger", false, 3, true, 1 + 1, "conflict"},
		{"dropped when Merge fails", true, 9, true, 1 + 1, "conflict"},
		{"kept first state without Merger", false, 3, false, 5 + 1, "restored,conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := make(chan string, 10)
			s := newSystem(t)
			tb := NewTable(s, TableConfig{
				Self: "self",
				Factory: func(string) (actor.Factory, bool) {
					return func(string) actor.Process {
						if tc.merger {
							return &summer{}
						}
						return &keeper{}
					}, true
				},
				Owner: func(string, uint32) (string, uint64) { return "self", 1 },
				Hooks: Hooks{Handoff: func(_, r string) { results <- r }},
			})
			if tc.served {
				if got := count(t, send(tb, "c", "a", 7)); got != 1 {
					t.Fatalf("first message: %d", got)
				}
			} else {
				tb.Restore("c", []*wire.State{state(t, "a", 7, 5, 3)}, nil)
			}
			tb.Restore("c", []*wire.State{state(t, "a", 7, 10, tc.format)}, nil)
			if got := count(t, send(tb, "c", "a", 7)); got != tc.want {
				t.Errorf("count %d, want %d", got, tc.want)
			}
			var got []string
			for len(results) > 0 {
				got = append(got, <-results)
			}
			if s := strings.Join(got, ","); s != tc.results {
				t.Errorf("results %s, want %s", s, tc.results)
			}
		})
	}
}
