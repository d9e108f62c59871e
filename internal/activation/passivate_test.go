package activation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/store"
)

func passivatingTable(t *testing.T, p Passivation, st store.Store) *Table {
	s := newSystem(t)
	tb := NewTable(s, TableConfig{
		Self:        "self",
		Factory:     func(string) (actor.Factory, bool) { return func(string) actor.Process { return &keeper{} }, true },
		Owner:       func(string, uint32) (string, uint64) { return "self", 1 },
		Passivation: func(string) Passivation { return p },
		Store:       st,
		Linger:      10 * time.Millisecond,
	})
	t.Cleanup(tb.Close)
	return tb
}

// TestIdleProcessesPassivate: a process idle past the timeout stops, and
// its next message makes it again: empty without a store, from its saved
// state with one.
func TestIdleProcessesPassivate(t *testing.T) {
	for _, withStore := range []bool{false, true} {
		t.Run(fmt.Sprint("store=", withStore), func(t *testing.T) {
			var st store.Store
			if withStore {
				// A slow save: the next activation must wait for it
				// rather than load what was there before.
				st = &slowSave{Store: store.NewMemory(), delay: 50 * time.Millisecond}
			}
			tb := passivatingTable(t, Passivation{Idle: 100 * time.Millisecond}, st)
			for range 3 {
				count(t, send(tb, "c", "a", 7))
			}
			waitFor(t, func() bool { return tb.Len() == 0 })
			want := int64(1)
			if withStore {
				want = 4
			}
			if got := count(t, send(tb, "c", "a", 7)); got != want {
				t.Fatalf("count %d after passivation, want %d", got, want)
			}
		})
	}
}

// TestMaxKeepsTheMostRecentlyUsed: past Max, every new activation
// passivates an older one at once, so the table never holds more than Max,
// and the most recently used stay.
func TestMaxKeepsTheMostRecentlyUsed(t *testing.T) {
	tb := passivatingTable(t, Passivation{Max: 50}, nil)
	for i := range 100 {
		count(t, send(tb, "c", fmt.Sprint(i), uint32(i)))
		if n := tb.Len(); n > 50 {
			t.Fatalf("%d activations after %d made, bound 50", n, i+1)
		}
	}
	held := map[string]bool{}
	for _, a := range tb.List() {
		held[a.ID] = true
	}
	if len(held) != 50 {
		t.Errorf("%d activations listed, want 50", len(held))
	}
	// Each eviction takes the oldest of a sample of 8: the five most
	// recent can never be the oldest of 8.
	for i := 95; i < 100; i++ {
		if !held[fmt.Sprint(i)] {
			t.Errorf("%d, among the most recently used, was passivated", i)
		}
	}
}

// TestStaleSaveIsRefused: of two activations of one ID that read the same
// version (two nodes that both think they own it), the second to save is
// refused and the first's state stays.
func TestStaleSaveIsRefused(t *testing.T) {
	st := store.NewMemory()
	var results []string
	a := passivatingTable(t, Passivation{}, st)
	b := passivatingTable(t, Passivation{}, st)
	b.cfg.Hooks.Store = func(_, result string) { results = append(results, result) }
	count(t, send(a, "c", "x", 7))
	for range 5 {
		count(t, send(b, "c", "x", 7))
	}
	stopAll := func(tb *Table) {
		if err := tb.StopAll(actor.StopClosing).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	stopAll(a) // saves 1 as version 1
	stopAll(b) // read version 0 too: refused
	rec, err := st.Load(context.Background(), store.Key{Capability: "c", ID: "x"})
	if err != nil || rec.Version != 1 {
		t.Fatalf("stored %+v, %v; want version 1", rec, err)
	}
	if len(results) == 0 || results[len(results)-1] != "stale" {
		t.Fatalf("results %v, want the last to be stale", results)
	}
}

// TestStoreDownFailsTheMessage: a store that cannot load fails the
// message with ErrStore, and the next message tries again.
func TestStoreDownFailsTheMessage(t *testing.T) {
	st := &flaky{Store: store.NewMemory()}
	st.down = true
	tb := passivatingTable(t, Passivation{}, st)
	select {
	case r := <-send(tb, "c", "a", 7):
		if !errors.Is(r.Err, ErrStore) {
			t.Fatalf("answer %+v, want ErrStore", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	st.down = false
	if got := count(t, send(tb, "c", "a", 7)); got != 1 {
		t.Fatalf("count %d once the store is back, want 1", got)
	}
}

type flaky struct {
	store.Store
	down bool
}

func (f *flaky) Load(ctx context.Context, k store.Key) (store.Record, error) {
	if f.down {
		return store.Record{}, errors.New("connection refused")
	}
	return f.Store.Load(ctx, k)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type slowSave struct {
	store.Store
	delay time.Duration
}

func (s *slowSave) Save(ctx context.Context, k store.Key, r store.Record) error {
	time.Sleep(s.delay)
	return s.Store.Save(ctx, k, r)
}

// TestUnreadableStoredStateIsKept: a stored state the process cannot
// restore fails its messages with ErrStore, and is not overwritten.
func TestUnreadableStoredStateIsKept(t *testing.T) {
	st := store.NewMemory()
	s := state(t, "a", 7, 5, 99) // a format keeper does not know
	key := store.Key{Capability: "c", ID: "a"}
	if err := st.Save(context.Background(), key, store.Record{Version: 1, Type: s.Type, Format: s.Format, Data: s.Data}); err != nil {
		t.Fatal(err)
	}
	tb := passivatingTable(t, Passivation{}, st)
	for range 3 {
		select {
		case r := <-send(tb, "c", "a", 7):
			if !errors.Is(r.Err, ErrStore) {
				t.Fatalf("answer %+v, want ErrStore", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer")
		}
	}
	if err := tb.StopAll(actor.StopClosing).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(context.Background(), key)
	if err != nil || rec.Version != 1 || rec.Format != 99 {
		t.Fatalf("stored %+v, %v: the unreadable state was overwritten", rec, err)
	}
}

// TestEvictionSparesAnActivationWaitingForItsState: past Max, an
// activation that holds its messages for a handed-off state is not the
// one evicted (stopped, it would drop the state on its way), and one made
// for a message it has not handled yet is spared for a moment.
func TestEvictionSparesAnActivationWaitingForItsState(t *testing.T) {
	tb := passivatingTable(t, Passivation{Max: 1}, nil)
	tb.Expect("c", []uint32{7}, time.Now().Add(time.Minute))
	waiting := send(tb, "c", "a", 7)
	// Past the grace of a new activation, b, past the bound, finds only
	// a to evict, and a waits.
	time.Sleep(newGrace + 100*time.Millisecond)
	count(t, send(tb, "c", "b", 8))
	if restored, refused := tb.Restore("c", []*wire.State{state(t, "a", 7, 41, 3)}, []uint32{7}); restored != 1 || len(refused) > 0 {
		t.Fatalf("restore: %d restored, %v refused", restored, refused)
	}
	if got := count(t, waiting); got != 42 {
		t.Fatalf("a counts %d once its state came, want 42: it was evicted while it waited", got)
	}
}

// TestOverlappingSavesAreAllAwaited: two activations of one ID saving at
// once (one passivates, the next is evicted before its first message)
// each leave a mark, and a third waits for both, not only the last.
func TestOverlappingSavesAreAllAwaited(t *testing.T) {
	tb := passivatingTable(t, Passivation{}, store.NewMemory())
	first, second, third := &entry{}, &entry{}, &entry{}
	slow := tb.saving("c", "x", first)
	quick := tb.saving("c", "x", second)
	tb.saveDone("c", "x", quick)
	if got := tb.savingOf("c", "x", third); len(got) != 1 || got[0] != slow {
		t.Fatalf("a new activation waits for %d saves, want the one still under way", len(got))
	}
	if got := tb.savingOf("c", "x", first); len(got) != 0 {
		t.Fatalf("an activation waits for its own save (%d marks)", len(got))
	}
	tb.saveDone("c", "x", slow)
	if got := tb.savingOf("c", "x", third); len(got) != 0 {
		t.Fatalf("%d saves left once both ended", len(got))
	}
}
