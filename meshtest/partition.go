package meshtest

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/meshrun/mesh"
)

// split is a partition in force: the side of every node, by name. Nodes
// the Partition named in no side are on side 0.
type split struct{ side map[string]int }

// Partition cuts the network between sides of the cluster, each a list
// of node names: from then on the nodes of one side neither gossip with
// the nodes of another nor send them messages (calls, replies, handoffs),
// in both directions, as a network split does. What is already on its way
// is lost too. Nodes named in no side are together on one more side, so
// Partition([]string{"node-3"}) cuts node-3 off from the others. A side
// then finds the others gone by failure detection, a few seconds with
// mesh.DefaultLocalConfig (WaitPartitioned waits for it), and behaves by
// its Config.Partition policy. A Partition replaces the one in force; Heal
// ends it. It fails the test if a name is not a node of the cluster or is
// given twice.
func (c *Cluster) Partition(sides ...[]string) {
	c.t.Helper()
	c.mu.Lock()
	s := &split{side: make(map[string]int, len(c.names))}
	for _, name := range c.names {
		s.side[name] = 0
	}
	c.mu.Unlock()
	seen := map[string]bool{}
	for i, side := range sides {
		for _, name := range side {
			if _, ok := s.side[name]; !ok {
				c.t.Fatalf("meshtest: partition: no node %q", name)
			}
			if seen[name] {
				c.t.Fatalf("meshtest: partition: %q given twice", name)
			}
			seen[name] = true
			s.side[name] = i + 1
		}
	}
	c.split.Store(s)
}

// Heal ends the partition in force, if any: the nodes reach each other
// again. The sides gossip their way back into one cluster within the
// nodes' Config.RejoinInterval (5 s with mesh.DefaultLocalConfig) and a
// push-pull; WaitConverged waits for it.
func (c *Cluster) Heal() { c.split.Store(nil) }

// cutFor returns the network fault of the node named self: it cuts the
// addresses of the nodes on another side of the partition in force.
// Addresses of no node of the cluster are never cut.
func (c *Cluster) cutFor(self string) func(addr string) bool {
	return func(addr string) bool {
		s := c.split.Load()
		if s == nil {
			return false
		}
		peer, ok := (*c.addrs.Load())[addr]
		return ok && s.side[peer] != s.side[self]
	}
}

// know records the gossip and remote addresses of a node started under
// name, for the partitions to cut.
func (c *Cluster) know(name string, addrs ...string) {
	c.addrMu.Lock()
	defer c.addrMu.Unlock()
	next := maps.Clone(*c.addrs.Load())
	for _, a := range addrs {
		next[a] = name
	}
	c.addrs.Store(&next)
}

// WaitPartitioned waits until each side of the partition in force has
// seen the others go: every running node sees exactly the running nodes
// of its own side as members and routes by the placement they imply, as
// WaitConverged checks for the whole cluster. Without a partition it is
// WaitConverged. It returns ctx's error if ctx ends first.
func (c *Cluster) WaitPartitioned(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !c.convergedSides() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("meshtest: sides not converged: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
	return nil
}

// convergedSides reports whether every side of the partition in force, or
// the whole cluster without one, has converged.
func (c *Cluster) convergedSides() bool {
	nodes := c.Nodes()
	s := c.split.Load()
	if s == nil {
		return c.converged(nodes)
	}
	sides := map[int][]*mesh.Node{}
	for _, n := range nodes {
		sides[s.side[n.Name()]] = append(sides[s.side[n.Name()]], n)
	}
	for _, side := range sides {
		if !c.converged(side) {
			return false
		}
	}
	return true
}
