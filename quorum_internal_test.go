package mesh

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLostMajorityHasAGrace: a node that loses sight of a majority and
// sees one again within quorumGrace never stops serving; one that sees
// none for longer stops, and serves again once it sees one.
func TestLostMajorityHasAGrace(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.NodeName = "node-1"
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	set := func(ok bool) {
		n.routesMu.Lock()
		n.setQuorum(ok)
		n.routesMu.Unlock()
	}
	set(false)
	time.Sleep(quorumGrace / 4)
	if err := n.serving(); err != nil {
		t.Fatalf("within the grace: %v", err)
	}
	set(true)
	time.Sleep(quorumGrace + quorumGrace/2)
	if err := n.serving(); err != nil {
		t.Fatalf("after a blink of a lost majority: %v", err)
	}
	set(false)
	start := time.Now()
	for n.serving() == nil && time.Since(start) < 10*quorumGrace {
		time.Sleep(10 * time.Millisecond)
	}
	if err := n.serving(); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("past the grace: %v, want ErrNoQuorum", err)
	}
	if waited := time.Since(start); waited < quorumGrace {
		t.Errorf("stopped serving after %v, within the grace", waited)
	}
	set(true)
	if err := n.serving(); err != nil {
		t.Fatalf("with a majority again: %v", err)
	}
}
