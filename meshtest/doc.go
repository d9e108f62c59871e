// Package meshtest runs mesh clusters inside a test's process, for tests
// of an application's own capabilities: n real nodes on loopback ports
// that gossip, route and hand off as a deployed cluster does, and that a
// test can restart gracefully or kill abruptly.
//
// # Usage
//
//	func TestCounter(t *testing.T) {
//		c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(counters))
//		owner := c.Owner("counter", "c-1")
//		// ... calls through c.Nodes()[0] ...
//		c.Kill(owner.Name())
//		if err := c.WaitConverged(ctx); err != nil {
//			t.Fatal(err)
//		}
//		// ... the calls go on, served by another node ...
//	}
//
// The nodes are named node-1, node-2, ... and start from
// mesh.DefaultLocalConfig, the first node seeding the others; WithConfig
// edits each node's Config (a Store shared by the nodes, say). The nodes
// still running are closed when the test ends, and a leak check then
// fails the test if a goroutine started since NewCluster still runs
// (WithoutLeakCheck turns it off).
//
// Restart is a planned change: the node drains and hands its processes'
// state off (actor.Snapshotter), so nothing acknowledged is lost. Kill is
// a crash: no drain, no handoff, no goodbye to the other nodes, no save;
// the others find out by failure detection, a few seconds with
// DefaultLocalConfig, and the node's processes start again elsewhere from
// the Store's last save, or empty without one.
//
// Partition splits the cluster into sides that cannot reach each other,
// gossip and node-to-node messages alike, until Heal: each side finds
// the others gone by failure detection (WaitPartitioned waits for it)
// and serves by its Config.Partition policy; after Heal the sides merge
// again (WaitConverged).
//
//	c.Partition([]string{"node-3"}) // node-3 against node-1 and node-2
//	// ... node-3 refuses calls with mesh.ErrNoQuorum, the others serve ...
//	c.Heal()
//
// # Concurrency
//
// Nodes, Node, Owner, Partition, Heal, WaitPartitioned and WaitConverged
// may be called from any goroutine (Partition fails the test on a bad
// name, so call it from the test's goroutine).
// NewCluster, Restart and Kill fail the test through t and so must be
// called from the test's goroutine, as testing.T.FailNow requires. The
// leak check cannot tell one test's goroutines from another's: give
// WithoutLeakCheck in tests that run in parallel with others.
package meshtest
