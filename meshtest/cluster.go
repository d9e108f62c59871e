package meshtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crash"
	"github.com/meshrun/mesh/internal/faults"
	"github.com/meshrun/mesh/shard"
	"go.uber.org/goleak"
)

// Bounds of the steps a Cluster takes on its own.
const (
	// convergeTimeout bounds the waits for convergence of NewCluster and
	// Restart.
	convergeTimeout = 15 * time.Second
	// closeTimeout bounds one node's Close, in Restart and at cleanup.
	closeTimeout = 20 * time.Second
)

// Option configures a Cluster.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	caps      []mesh.Capability
	edits     []func(*mesh.Config)
	leakCheck bool
}

// WithCapabilities makes every node register caps once started, and
// again after each Restart. Capabilities are shared by the nodes: a New
// function is called on whichever node activates the process.
func WithCapabilities(caps ...mesh.Capability) Option {
	return optionFunc(func(o *options) { o.caps = append(o.caps, caps...) })
}

// WithConfig makes edit change each node's Config before it starts: it
// gets mesh.DefaultLocalConfig with NodeName and Seeds already set, and
// may set anything else (a shared Store, Labels, DrainTimeout). Given
// more than once, the edits run in order. A Restart starts the node with
// the Config as edited the first time, new Seeds excepted.
func WithConfig(edit func(*mesh.Config)) Option {
	return optionFunc(func(o *options) { o.edits = append(o.edits, edit) })
}

// WithoutLeakCheck turns off the check, at cleanup, that no goroutine
// started during the test is left. Turn it off in tests that run in
// parallel (t.Parallel) with others, or that leave goroutines of their
// own running: the check cannot tell whose a goroutine is.
func WithoutLeakCheck() Option {
	return optionFunc(func(o *options) { o.leakCheck = false })
}

// Cluster is a set of nodes running in the test's process, named node-1,
// node-2, ...
type Cluster struct {
	t      testing.TB
	opts   options
	shards int

	mu sync.Mutex // guards names, cfgs, running
	// names are the nodes' names in the order they were made.
	names []string
	// cfgs are the nodes' configurations as started first.
	cfgs map[string]mesh.Config
	// running are the nodes neither killed nor closed.
	running map[string]*mesh.Node

	// split is the partition in force; nil for none.
	split atomic.Pointer[split]
	// addrs names the node of every gossip and remote address a node of
	// the cluster has had, for the cuts to read without a lock; replaced
	// whole, under addrMu, when a node starts.
	addrs  atomic.Pointer[map[string]string]
	addrMu sync.Mutex
}

// NewCluster starts n nodes on free loopback ports, each node seeded with
// the first, registers the capabilities of WithCapabilities on each and
// waits until they have converged (see WaitConverged). It fails t if a
// node cannot start or the nodes do not converge within 15 s. When the
// test ends the nodes that still run are closed, each within 20 s, and
// unless WithoutLeakCheck is given t fails if a goroutine started since
// NewCluster is still running.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("meshtest: a cluster of %d nodes", n)
	}
	c := &Cluster{t: t, opts: options{leakCheck: true}, cfgs: map[string]mesh.Config{}, running: map[string]*mesh.Node{}}
	c.addrs.Store(&map[string]string{})
	for _, o := range opts {
		o.apply(&c.opts)
	}
	if c.opts.leakCheck {
		// Registered first, so it runs after the nodes' Close.
		before := goleak.IgnoreCurrent()
		t.Cleanup(func() {
			goleak.VerifyNone(t, before,
				// memberlist's Shutdown does not wait for a probe in
				// flight; it ends by itself within a probe interval.
				goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
		})
	}
	t.Cleanup(c.closeAll)
	var seeds []string
	for i := range n {
		name := fmt.Sprintf("node-%d", i+1)
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.Seeds = name, seeds
		for _, edit := range c.opts.edits {
			edit(&cfg)
		}
		// Every node can be cut off by Partition; until then the cut
		// costs an atomic load per message.
		faults.Cut(&cfg, c.cutFor(name), c.cutFor(name))
		if i == 0 {
			c.shards = cfg.Shards
			if c.shards == 0 {
				c.shards = shard.DefaultShards
			}
		}
		node := c.start(cfg)
		if i == 0 {
			seeds = []string{node.GossipAddr()}
		}
	}
	c.mustConverge("NewCluster")
	return c
}

// start starts a node with cfg and registers the capabilities; it fails
// the test if it cannot.
func (c *Cluster) start(cfg mesh.Config) *mesh.Node {
	c.t.Helper()
	node, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		c.t.Fatalf("meshtest: start %s: %v", cfg.NodeName, err)
	}
	c.know(cfg.NodeName, node.GossipAddr(), node.RemoteAddr())
	c.mu.Lock()
	if _, ok := c.cfgs[cfg.NodeName]; !ok {
		c.names = append(c.names, cfg.NodeName)
		c.cfgs[cfg.NodeName] = cfg
	}
	c.running[cfg.NodeName] = node
	c.mu.Unlock()
	if len(c.opts.caps) > 0 {
		if err := node.RegisterCapabilities(c.opts.caps...); err != nil {
			c.t.Fatalf("meshtest: register capabilities on %s: %v", cfg.NodeName, err)
		}
	}
	return node
}

// closeAll closes the running nodes, all at once.
func (c *Cluster) closeAll() {
	c.mu.Lock()
	nodes := make([]*mesh.Node, 0, len(c.running))
	for _, name := range c.names {
		if n := c.running[name]; n != nil {
			nodes = append(nodes, n)
		}
	}
	clear(c.running)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			if err := n.Close(ctx); err != nil {
				c.t.Logf("meshtest: close %s: %v", n.Name(), err)
			}
		})
	}
	wg.Wait()
}

// Nodes returns the running nodes in the order they were made: those
// killed and not restarted are left out.
func (c *Cluster) Nodes() []*mesh.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*mesh.Node, 0, len(c.running))
	for _, name := range c.names {
		if n := c.running[name]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the running node named name, or nil if there is none.
func (c *Cluster) Node(name string) *mesh.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[name]
}

// Owner returns the node that owns the shard of (capability, id), as the
// first running node sees it now: the node that hosts the process, or
// activates it on its next message. It returns nil if no running node
// offers the capability, the request is not valid, or the owner that view
// names has been killed and is not yet detected.
func (c *Cluster) Owner(capability, id string) *mesh.Node {
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return nil
	}
	p, err := nodes[0].Locate(capability, id)
	if err != nil {
		return nil
	}
	return c.Node(p.Owner)
}

// WaitConverged waits until every running node sees exactly the running
// nodes as members, with the capabilities they offer, and routes by the
// placement those members imply: the same routing version on every node.
// A member seen in an earlier incarnation (before a Restart) does not count.
// After a Kill that includes the others having detected the failure,
// which takes a few seconds with mesh.DefaultLocalConfig. It returns
// ctx's error if ctx ends first.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !c.converged(c.Nodes()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("meshtest: nodes not converged: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
	return nil
}

// converged reports whether nodes, running nodes of the cluster, agree
// among themselves as WaitConverged describes.
func (c *Cluster) converged(nodes []*mesh.Node) bool {
	var want uint64
	for i, n := range nodes {
		members := n.Members()
		if len(members) != len(nodes) {
			return false
		}
		var placed []shard.Member
		for _, m := range members {
			if r := c.Node(m.Name); r == nil || r.Incarnation() != m.Incarnation || !slices.Contains(nodes, r) {
				return false // a node killed or restarted since, or of another side
			}
			placed = append(placed, shard.Member{Name: m.Name, Capabilities: m.Capabilities,
				Labels: m.Labels, Requires: m.Requires, Draining: m.Draining, Weight: m.Weight})
		}
		v := shard.Build(c.shards, placed, nil).Version()
		if i == 0 {
			want = v
		}
		if v != want || n.RoutingVersion() != want {
			return false
		}
	}
	return true
}

// mustConverge waits for convergence, bounded, and fails the test if it
// does not come.
func (c *Cluster) mustConverge(what string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		c.t.Fatalf("meshtest: %s: %v", what, err)
	}
}

// Restart closes the node named name gracefully (it drains, and hands its
// processes' state off to the others), starts it again under the same
// name and Config, seeded with the other running nodes, registers the
// capabilities again and waits for the nodes to converge. A killed node
// is only started again: this is a crash and recovery. It fails the test
// if name is not a node of the cluster, the Close fails, or any step
// takes longer than NewCluster allows. Call it from the test's goroutine.
func (c *Cluster) Restart(name string) *mesh.Node {
	c.t.Helper()
	c.mu.Lock()
	cfg, known := c.cfgs[name]
	old := c.running[name]
	delete(c.running, name)
	var seeds []string
	for _, other := range c.names {
		if n := c.running[other]; n != nil {
			seeds = append(seeds, n.GossipAddr())
		}
	}
	c.mu.Unlock()
	if !known {
		c.t.Fatalf("meshtest: restart %s: no such node", name)
	}
	if old != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		err := old.Close(ctx)
		cancel()
		if err != nil {
			c.t.Fatalf("meshtest: restart %s: %v", name, err)
		}
	}
	cfg.Seeds = seeds
	node := c.start(cfg)
	c.mustConverge("restart " + name)
	return node
}

// Kill stops the node named name abruptly, as kill -9 would stop its
// process: it does not drain, hand off, tell the others it leaves, call
// its processes' Stop or save their state. The others go on routing to
// it until failure detection drops it (a few seconds with
// mesh.DefaultLocalConfig; WaitConverged waits for it), and its
// processes start again elsewhere from their last save in the Store, if
// any, or else empty. Unlike a killed process the node's goroutines all
// end before Kill returns. It fails the test if no node named name runs.
func (c *Cluster) Kill(name string) {
	c.t.Helper()
	c.mu.Lock()
	n := c.running[name]
	delete(c.running, name)
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("meshtest: kill %s: no such running node", name)
	}
	crash.Node(n)
}
