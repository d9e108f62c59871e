package secure

import (
	"context"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// TestMadeSecretsSecureACluster: two nodes configured with the secrets
// Make writes form a cluster, sealed and over TLS; a node without them,
// given the same seed, never joins it.
func TestMadeSecretsSecureACluster(t *testing.T) {
	dir := t.TempDir()
	key, err := Make(dir, "node-1", "node-2")
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string, seeds []string, secured bool) *mesh.Node {
		t.Helper()
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.Seeds = name, seeds
		if secured {
			ok, err := Configure(&cfg, key, dir)
			if err != nil || !ok {
				t.Fatalf("Configure %s: %v, %v", name, ok, err)
			}
			if cfg.TransportTLS == nil || len(cfg.GossipKeys) != 1 || cfg.ClusterLabel != Label {
				t.Fatalf("Configure left %s unsecured", name)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := mesh.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		return n
	}
	a := start("node-1", nil, true)
	b := start("node-2", []string{a.GossipAddr()}, true)
	plain := start("node-3", []string{a.GossipAddr()}, false)
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Members()) < 2 || len(b.Members()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the secured nodes see %d and %d members, want 2", len(a.Members()), len(b.Members()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // room for the plain node to try
	for _, n := range []*mesh.Node{a, b, plain} {
		for _, m := range n.Members() {
			if (n == plain) != (m.Name == "node-3") {
				t.Errorf("%s sees %s: the plaintext node and the sealed cluster met", n.Name(), m.Name)
			}
		}
	}
	if _, err := Configure(&mesh.Config{NodeName: "node-1"}, "not base64!", ""); err == nil {
		t.Error("a gossip key that is not base64 was taken")
	}
	if _, err := Configure(&mesh.Config{NodeName: "node-9"}, "", dir); err == nil {
		t.Error("TLS files of a node with no certificate were taken")
	}
}
