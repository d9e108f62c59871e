package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// hub returns a Membership with members but no gossip, for tests of the
// subscriptions alone; stop ends it as Leave would.
func hub(t *testing.T, names ...string) (m *Membership, stop func()) {
	t.Helper()
	m = &Membership{members: map[string]Member{}, stop: make(chan struct{})}
	for _, n := range names {
		m.members[n] = Member{Name: n}
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			m.membersMu.Lock()
			close(m.stop)
			m.membersMu.Unlock()
			m.wg.Wait()
		}
	}
	t.Cleanup(stop)
	return m, stop
}

func publish(m *Membership, events ...Event) {
	m.membersMu.Lock()
	defer m.membersMu.Unlock()
	for _, e := range events {
		m.publishLocked(e)
	}
}

func joined(name string) Event { return Event{Kind: EventJoined, Member: Member{Name: name}} }

// describe writes an event as "kind name" or "missed N".
func describe(e Event) string {
	if e.Kind == EventMissed {
		return fmt.Sprintf("missed %d", e.Missed)
	}
	return e.Kind.String() + " " + e.Member.Name
}

// receive takes n events from s, failing t if they do not come in time.
func receive(t *testing.T, s *Subscription[string], n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case e, ok := <-s.C():
			if !ok {
				t.Fatalf("subscription ended after %q: %v", got, s.Err())
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("got %q, want %d events", got, n)
		}
	}
	return got
}

// TestSubscriptionOrderAndSnapshot: a subscription starts with the members
// present, sorted, then every event in the order published.
func TestSubscriptionOrderAndSnapshot(t *testing.T) {
	m, _ := hub(t, "b", "a")
	s, err := Subscribe(context.Background(), m, 4, describe)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publish(m, joined("c"), Event{Kind: EventDraining, Member: Member{Name: "a"}}, joined("d"))
	want := []string{"present a", "present b", "joined c", "draining a", "joined d"}
	if got := receive(t, s, len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSubscriptionOverflow: a subscriber that does not read gets the
// events that fit its buffer, then one marker counting the events dropped,
// then the events published once it has room again; gossip (publish) never
// waits for it.
func TestSubscriptionOverflow(t *testing.T) {
	m, _ := hub(t)
	s, err := Subscribe(context.Background(), m, 3, describe)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The event the delivering goroutine offers stays in the buffer
	// until it is received.
	publish(m, joined("e0"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 1000; i++ {
			publish(m, joined(fmt.Sprint("e", i)))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a subscriber that does not read")
	}
	got := receive(t, s, 4)
	want := []string{"joined e0", "joined e1", "joined e2", "missed 998"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	publish(m, joined("late"))
	if got := receive(t, s, 1); got[0] != "joined late" {
		t.Fatalf("after the marker: %q", got)
	}
}

// TestSubscriptionMarkerBeforeNextEvent: after a gap, the marker stands
// where the events were dropped, ahead of the next event that fits.
func TestSubscriptionMarkerBeforeNextEvent(t *testing.T) {
	m, _ := hub(t)
	s, err := Subscribe(context.Background(), m, 2, describe)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publish(m, joined("a"), joined("b"), joined("c"), joined("d"))
	// The buffer held a and b (or the goroutine took a, and c fitted);
	// whatever it held, the rest is counted, and nothing is reordered.
	var got []string
	for len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "missed") {
		got = append(got, receive(t, s, 1)...)
	}
	publish(m, joined("e"))
	got = append(got, receive(t, s, 1)...)
	kept := len(got) - 2
	var missed int
	fmt.Sscanf(got[len(got)-2], "missed %d", &missed)
	if kept+missed != 4 || got[len(got)-1] != "joined e" {
		t.Fatalf("got %q: kept %d + missed %d should be 4, then joined e", got, kept, missed)
	}
	for i, g := range got[:kept] {
		if want := "joined " + string(rune('a'+i)); g != want {
			t.Fatalf("event %d is %q, want %q (order)", i, g, want)
		}
	}
}

// TestSubscriptionEnds: Close ends a subscription with no error, ctx with
// ctx's, the membership's end with ErrClosed; each closes the channel, and
// the goroutines end (TestMain's leak check).
func TestSubscriptionEnds(t *testing.T) {
	drained := func(s *Subscription[string]) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-s.C():
				if !ok {
					return
				}
			case <-timeout:
				t.Fatal("channel not closed")
			}
		}
	}
	m, stop := hub(t, "a")
	s1, _ := Subscribe(context.Background(), m, 0, describe)
	s1.Close()
	s1.Close()
	drained(s1)
	if err := s1.Err(); err != nil {
		t.Errorf("after Close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s2, _ := Subscribe(ctx, m, 0, describe)
	cancel()
	drained(s2)
	if err := s2.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	s3, _ := Subscribe(context.Background(), m, 0, describe)
	stop()
	drained(s3)
	if err := s3.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("after the membership ended: %v", err)
	}
	if _, err := Subscribe(context.Background(), m, 0, describe); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after the end: %v", err)
	}
	if _, err := Subscribe(context.Background(), &Membership{stop: make(chan struct{})}, -1, describe); err == nil {
		t.Error("negative buffer accepted")
	}
}

// TestEventsOfGossip: real members on loopback produce joined, changed,
// draining, left and failed events, in order, on each subscriber alike.
func TestEventsOfGossip(t *testing.T) {
	a := start(t, "a", nil, nil)
	s1, err := Subscribe(context.Background(), a.Membership, 64, describe)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, _ := Subscribe(context.Background(), a.Membership, 64, describe)
	defer s2.Close()
	expect := func(want ...string) {
		t.Helper()
		for _, s := range []*Subscription[string]{s1, s2} {
			if got := receive(t, s, len(want)); !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
	expect("present a")
	b := start(t, "b", []string{a.LocalAddr()}, nil)
	expect("joined b")
	meta := b.meta
	meta.Capabilities = []string{"other"}
	if err := b.SetMeta(meta, time.Second); err != nil {
		t.Fatal(err)
	}
	expect("capabilities_changed b")
	meta.Labels = map[string]string{"zone": "z2"}
	meta.Draining = true
	if err := b.SetMeta(meta, time.Second); err != nil {
		t.Fatal(err)
	}
	expect("draining b", "labels_changed b")
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	expect("left b")
	c := start(t, "c", []string{a.LocalAddr()}, nil)
	expect("joined c")
	crash(c)
	expect("failed c")
}

// TestChanges: the events that turn one member's metadata into another's,
// in their fixed order; a new incarnation is a restart and nothing else.
func TestChanges(t *testing.T) {
	base := Member{Name: "a", Meta: Meta{Incarnation: 1, Capabilities: []string{"x"}, Labels: map[string]string{"z": "1"}}}
	with := func(edit func(*Meta)) Member {
		m := base
		m.Meta.Labels = map[string]string{"z": "1"}
		edit(&m.Meta)
		return m
	}
	for _, tc := range []struct {
		name string
		new  Member
		want []string
	}{
		{"nothing", with(func(*Meta) {}), nil},
		{"address only", with(func(m *Meta) { m.RemoteAddr = "elsewhere:1" }), nil},
		{"capabilities", with(func(m *Meta) { m.Capabilities = []string{"x", "y"} }), []string{"capabilities_changed a"}},
		{"labels", with(func(m *Meta) { m.Labels["z"] = "2" }), []string{"labels_changed a"}},
		{"draining", with(func(m *Meta) { m.Draining = true }), []string{"draining a"}},
		{"all", with(func(m *Meta) { m.Draining, m.Capabilities, m.Labels = true, nil, nil }),
			[]string{"draining a", "capabilities_changed a", "labels_changed a"}},
		{"restart", with(func(m *Meta) { m.Incarnation, m.Capabilities = 2, nil }), []string{"restarted a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range changes(base, tc.new, time.Time{}) {
				got = append(got, describe(e))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if s := EventKind(0).String(); s != "EventKind(0)" {
		t.Errorf("zero kind: %q", s)
	}
}

// TestEventRestarted: a member that comes back on its address under its
// name with a new incarnation before it is seen to fail is reported as
// restarted, with its new metadata; had failure detection come first, it
// would be a failure and a join. Either way no member is left out.
func TestEventRestarted(t *testing.T) {
	a := start(t, "a", nil, nil)
	port := freePort(t)
	first := func(c *Config) { c.BindPort = port }
	b := start(t, "b", []string{a.LocalAddr()}, first)
	s, err := Subscribe(context.Background(), a.Membership, 64, func(e Event) Event { return e })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	next := func() Event {
		t.Helper()
		select {
		case e := <-s.C():
			return e
		case <-time.After(15 * time.Second):
			t.Fatal("no event")
		}
		return Event{}
	}
	for range 2 {
		next() // present a, b
	}
	crash(b)
	meta := metaOf("b")
	meta.Incarnation = 7
	var b2 *Membership
	waitFor(t, 10*time.Second, "b to start again on its port", func() error {
		m, err := Join(context.Background(), Config{Name: "b", BindAddr: "127.0.0.1", BindPort: port, Seeds: []string{a.LocalAddr()}}, meta)
		b2 = m
		return err
	})
	t.Cleanup(func() { _ = b2.Leave(500 * time.Millisecond) })
	e := next()
	if e.Kind == EventFailed {
		t.Logf("failure detection came first")
		e = next()
		if e.Kind != EventJoined {
			t.Fatalf("after the failure: %v %s", e.Kind, e.Member.Name)
		}
	} else if e.Kind != EventRestarted {
		t.Fatalf("got %v %s, want restarted b", e.Kind, e.Member.Name)
	}
	if e.Member.Name != "b" || e.Member.Meta.Incarnation != 7 {
		t.Fatalf("event %+v: want b at incarnation 7", e)
	}
}
