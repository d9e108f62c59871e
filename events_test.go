package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crash"
)

// eventLine writes an event as "kind member", with the capabilities for
// EventCapabilitiesChanged, or "missed N".
func eventLine(e mesh.MemberEvent) string {
	switch e.Kind {
	case mesh.EventMissed:
		return fmt.Sprintf("missed %d", e.Missed)
	case mesh.EventCapabilitiesChanged:
		return fmt.Sprintf("%v %s [%s]", e.Kind, e.Member.Name, strings.Join(e.Member.Capabilities, ","))
	}
	return fmt.Sprintf("%v %s", e.Kind, e.Member.Name)
}

// nextEvents receives n events from s, failing t if they do not come
// within 15 s (failure detection takes a few seconds).
func nextEvents(t *testing.T, s *mesh.Subscription, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < n {
		select {
		case e, ok := <-s.C():
			if !ok {
				t.Fatalf("subscription ended after %q: %v", got, s.Err())
			}
			got = append(got, eventLine(e))
		case <-timeout:
			t.Fatalf("got %q, want %d events", got, n)
		}
	}
	return got
}

// TestMemberEvents: a subscriber on a node sees, in order, the members
// present, a join, capabilities registered and withdrawn, a drain, a
// graceful leave (Close) and a failure (a kill), each once; a second
// subscriber sees the same sequence.
func TestMemberEvents(t *testing.T) {
	a := startNode(t, "node-1", nil, echo("node-1"))
	ctx := context.Background()
	s1, err := a.Subscribe(ctx, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := a.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	expect := func(want ...string) {
		t.Helper()
		for _, s := range []*mesh.Subscription{s1, s2} {
			if got := nextEvents(t, s, len(want)); !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
	expect("present node-1")

	b := startNode(t, "node-2", []string{a.GossipAddr()})
	expect("joined node-2")
	if err := b.RegisterCapabilities(echo("node-2")); err != nil {
		t.Fatal(err)
	}
	expect("capabilities_changed node-2 [echo]")
	if err := b.UnregisterCapabilities("echo"); err != nil {
		t.Fatal(err)
	}
	expect("capabilities_changed node-2 []")
	if err := b.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	expect("draining node-2")
	closeCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	expect("left node-2")

	c := startNode(t, "node-3", []string{a.GossipAddr()})
	expect("joined node-3")
	crash.Node(c)
	expect("failed node-3")

	select {
	case e := <-s1.C():
		t.Fatalf("unexpected event %s", eventLine(e))
	case <-time.After(200 * time.Millisecond):
	}
}

// TestSlowSubscriberHoldsNothingUp: a subscriber that never reads does not
// delay gossip (the nodes converge, and a reading subscriber of the same
// node gets every event); once it reads, it gets what fitted its buffer,
// then one EventMissed counting the rest.
func TestSlowSubscriberHoldsNothingUp(t *testing.T) {
	a := startNode(t, "node-1", nil)
	ctx := context.Background()
	slow, err := a.Subscribe(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := a.Subscribe(ctx, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	nodes := []*mesh.Node{a}
	seeds := []string{a.GossipAddr()}
	for i := 2; i <= 4; i++ {
		name := fmt.Sprint("node-", i)
		nodes = append(nodes, startNode(t, name, seeds, echo(name)))
	}
	waitConverged(t, nodes...)
	// present, then per node: joined and capabilities_changed.
	got := nextEvents(t, fast, 7)
	if got[0] != "present node-1" {
		t.Fatalf("fast subscriber: %q", got)
	}
	for i := 2; i <= 4; i++ {
		name := fmt.Sprint("node-", i)
		if j, c := slices.Index(got, "joined "+name), slices.Index(got, "capabilities_changed "+name+" [echo]"); j < 0 || c < j {
			t.Fatalf("fast subscriber: %q: want joined then capabilities_changed of %s", got, name)
		}
	}
	// The slow one holds the snapshot and one event: the goroutine that
	// delivers them offers the first and keeps it until it is received.
	slowGot := nextEvents(t, slow, 3)
	if slowGot[0] != "present node-1" || slowGot[1] != got[1] || slowGot[2] != "missed 5" {
		t.Fatalf("slow subscriber: %q, want present node-1, %q, missed 5", slowGot, got[1])
	}
}

// TestSubscriptionEnds: Close ends a subscription without an error, ctx
// with ctx's error, the node's Close with ErrClosed; in each case C is
// closed, and no goroutine is left (TestMain's leak check).
func TestSubscriptionEnds(t *testing.T) {
	n := startNode(t, "node-1", nil)
	closed := func(s *mesh.Subscription) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-s.C():
				if !ok {
					return
				}
			case <-timeout:
				t.Fatal("C not closed")
			}
		}
	}
	s, _ := n.Subscribe(context.Background(), 0)
	s.Close()
	closed(s)
	if err := s.Err(); err != nil {
		t.Errorf("after Close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, _ = n.Subscribe(ctx, 0)
	cancel()
	closed(s)
	if err := s.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	if _, err := n.Subscribe(context.Background(), -1); !errors.Is(err, mesh.ErrInvalidRequest) {
		t.Errorf("negative buffer: %v", err)
	}
	s, _ = n.Subscribe(context.Background(), 0)
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed(s)
	if err := s.Err(); !errors.Is(err, mesh.ErrClosed) {
		t.Errorf("after the node closed: %v", err)
	}
	if _, err := n.Subscribe(context.Background(), 0); !errors.Is(err, mesh.ErrClosed) {
		t.Errorf("Subscribe on a closed node: %v", err)
	}
}

// TestMembersAreCopies: what Members and a subscription hand out may be
// changed by the caller without changing what the node knows, nor racing
// with gossip.
func TestMembersAreCopies(t *testing.T) {
	n := startNodeWith(t, "node-1", nil, func(c *mesh.Config) { c.Labels = map[string]string{"zone": "a"} }, echo("node-1"))
	ms := n.Members()
	ms[0].Capabilities[0] = "changed"
	ms[0].Labels["zone"] = "changed"
	if got := n.Members()[0]; got.Capabilities[0] != "echo" || got.Labels["zone"] != "a" {
		t.Fatalf("a caller's change reached the node's members: %+v", got)
	}
}
