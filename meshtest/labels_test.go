package meshtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/meshtest"
)

// TestOwnerWithLabels: in a cluster whose odd nodes are labelled
// region=eu, a capability that requires region=eu is owned, by Owner's
// account and by where its processes run, by eu nodes only.
func TestOwnerWithLabels(t *testing.T) {
	euCounters := counters
	euCounters.Requires = map[string]string{"region": "eu"}
	c := meshtest.NewCluster(t, 4, meshtest.WithCapabilities(euCounters), meshtest.WithConfig(func(cfg *mesh.Config) {
		region := "us"
		if strings.HasSuffix(cfg.NodeName, "1") || strings.HasSuffix(cfg.NodeName, "3") {
			region = "eu"
		}
		cfg.Labels = map[string]string{"region": region}
	}))
	owners := map[string]int{}
	for i := range 40 {
		id := fmt.Sprintf("id-%d", i)
		owner := c.Owner("counter", id)
		if owner == nil || owner.Name() != "node-1" && owner.Name() != "node-3" {
			t.Fatalf("Owner of %s is %v, want an eu node", id, owner)
		}
		owners[owner.Name()]++
		count(t, c.Node("node-2"), id)
		for _, n := range c.Nodes() {
			if hosts(n, id) != (n == owner) {
				t.Fatalf("%s: %s hosts it: %v; Owner said %s", id, n.Name(), hosts(n, id), owner.Name())
			}
		}
	}
	if len(owners) != 2 {
		t.Fatalf("owners %v: both eu nodes should own some", owners)
	}
}
