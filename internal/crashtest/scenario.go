package crashtest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// Scenario is a crash of one node among three that share a store, under
// load: the counters are incremented from a client node throughout, node-2
// is killed with SIGKILL, the others take its shards from the store, and
// node-2 is started again and takes them back by handoff.
type Scenario struct {
	// Mode is when the nodes save.
	Mode mesh.SaveMode
	// Env is added to every node process's environment: how Serve's open
	// finds the store.
	Env []string
	// IDs is the number of counters (default 1,000), Workers the calls in
	// flight (default 16), Phase the increments of each phase: before the
	// kill, while node-2 is down, after its restart (default 5,000).
	IDs, Workers, Phase int
}

// Run runs s and returns what the load saw. The test binary must call
// Serve in its TestMain.
func (s Scenario) Run(t *testing.T) Result {
	t.Helper()
	ids, workers, phase := or(s.IDs, 1000), or(s.Workers, 16), int64(or(s.Phase, 5000))
	var procs []*Proc
	var seeds []string
	for i := range 3 {
		p := Start(t, fmt.Sprint("node-", i+1), s.Mode, seeds, s.Env...)
		procs = append(procs, p)
		seeds = append(seeds, p.Gossip)
	}
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName, cfg.Seeds = "client", seeds
	client, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = client.Close(ctx)
	}()
	WaitOffering(t, client, 3)

	load := StartLoad(client, ids, workers)
	runFor := func(n int64) {
		at := load.Calls()
		deadline := time.Now().Add(2 * time.Minute)
		for load.Calls() < at+n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	runFor(phase)
	killed := time.Now()
	procs[1].Kill()
	WaitOffering(t, client, 2)
	t.Logf("node-2 killed: the others serve its shards after %v", time.Since(killed).Round(time.Millisecond))
	runFor(phase)
	procs[1] = Start(t, "node-2", s.Mode, []string{seeds[0], seeds[2]}, s.Env...)
	WaitOffering(t, client, 3)
	runFor(phase)
	res, err := load.Stop(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		p.Stop()
	}
	return res
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// WaitOffering waits up to 30 s until n sees want members offering the
// counters, none draining, and routes every one of a sample of IDs to one
// of them.
func WaitOffering(t testing.TB, n *mesh.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var offering []string
		for _, m := range n.Members() {
			if slices.Contains(m.Capabilities, Capability) && !m.Draining {
				offering = append(offering, m.Name)
			}
		}
		routed := len(offering) == want
		for i := 0; routed && i < 200; i++ {
			p, err := n.Locate(Capability, ID(i))
			routed = err == nil && slices.Contains(offering, p.Owner)
		}
		if routed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sees %d members offering %s, want %d", n.Name(), len(offering), Capability, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Check fails t unless r is what Scenario's mode promises: most
// increments acknowledged (a tenth may fail while the killed node's
// shards find new owners), and, saving on change, none lost; saving on
// stop, some lost (or the test could not see a loss).
func (r Result) Check(t *testing.T, mode mesh.SaveMode) {
	t.Helper()
	if r.Calls < 1000 || r.Failed > r.Calls/10 || r.Acknowledged < (r.Calls-r.Failed)/2 {
		t.Errorf("too little acknowledged to judge: %v", r)
	}
	switch {
	case mode == mesh.SaveOnChange && r.Lost > 0:
		t.Errorf("%d acknowledged increments lost", r.Lost)
	case mode == mesh.SaveOnStop && r.Lost == 0:
		t.Error("the kill lost nothing saving on stop: the check cannot see a loss")
	}
}
