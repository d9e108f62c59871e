package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestCrashDetectionStaysFast crashes a fresh peer, round after round, in a
// cluster of two long-lived members, and checks that detecting the crash
// does not slow down as crashed peers pile up.
//
// It used to: memberlist keeps gossiping to a dead node for
// GossipToTheDeadTime, and each broadcast goes to only
// RetransmitMult·⌈log10(n+1)⌉ = 4 nodes picked at random among the live,
// suspect and recently dead ones. With 15 s of dead peers in the pick, the
// suspicion a member raised (or its "dead" verdict) often missed the other
// member, whose own suspicion, left unconfirmed, then ran to its maximum
// (SuspicionMaxTimeoutMult times the minimum): 5.2-5.7 s instead of
// 2.1-3.4 s, in 6 of 100 rounds over 5 runs, 4 of which failed.
func TestCrashDetectionStaysFast(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 8
	}
	// How long the peer lives between joining and crashing: short, so that
	// crashes come close together as they do when a crash-looping peer is
	// restarted, and the test stays affordable (about 3 s a round).
	const hold = 200 * time.Millisecond

	mc := memberlistConfig(Config{Profile: Local})
	pi := mc.ProbeInterval
	// Each member probes the other two in turn, one per interval, so a
	// crashed peer is probed within two intervals; the probe fails at its
	// deadline, one interval; a suspicion the other member confirms ends
	// SuspicionMult intervals after it began (the cluster is too small for
	// memberlist's log10(n) scaling to apply). 3 s with the Local profile.
	confirmed := 3*pi + time.Duration(mc.SuspicionMult)*pi
	// A suspicion nobody confirms lasts SuspicionMaxTimeoutMult times
	// longer, and begins one interval after the crash at the earliest: 5 s.
	unconfirmed := pi + time.Duration(mc.SuspicionMaxTimeoutMult*mc.SuspicionMult)*pi
	// Three probe intervals of slack for a busy machine, and still below
	// what a single unconfirmed suspicion takes: 4.5 s.
	bound := confirmed + 3*pi
	if bound >= unconfirmed {
		t.Fatalf("bound %v does not separate confirmed (%v) from unconfirmed (%v) suspicions", bound, confirmed, unconfirmed)
	}

	a := start(t, "a", nil, nil)
	b := start(t, "b", []string{a.LocalAddr()}, nil)
	observers := []*node{a, b}
	waitFor(t, 10*time.Second, "a and b converge", reported(observers, a, b))

	var took []time.Duration
	slow := 0
	for i := 1; i <= rounds; i++ {
		p := start(t, fmt.Sprintf("peer-%d", i), []string{a.LocalAddr(), b.LocalAddr()}, nil)
		waitFor(t, 10*time.Second, fmt.Sprintf("round %d: a and b see %s", i, p.name), reported(observers, a, b, p))
		time.Sleep(hold)

		begin := time.Now()
		crash(p)
		waitFor(t, 15*time.Second, fmt.Sprintf("round %d: a and b drop %s", i, p.name), reported(observers, a, b))
		d := time.Since(begin)
		took = append(took, d)
		t.Logf("round %d: detected in %v", i, d.Round(time.Millisecond))
		if d > bound {
			slow++
			t.Errorf("round %d: crash of %s detected in %v, over the %v bound (a confirmed suspicion takes up to %v, an unconfirmed one at least %v)",
				i, p.name, d.Round(time.Millisecond), bound, confirmed, unconfirmed)
			if slow == 3 {
				t.Fatalf("stopping after %d slow rounds of %d", slow, i)
			}
		}
	}
	slices.Sort(took)
	t.Logf("%d rounds: min %v, median %v, max %v (bound %v)", len(took),
		took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), bound)
}
