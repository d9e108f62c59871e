package mesh_test

import "testing"

func TestSmoke(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(echo(n.Name())); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	for i := range 10 {
		for _, n := range nodes {
			t.Log(call(t, n, "echo", "id-"+string(rune('a'+i)), "hi"))
		}
	}
}
