package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestOwnerExplainsLabels: mesh owner says which labels a capability
// requires and, for every member, whether it is on the ring and why not;
// with no member that may own it, it exits 1 naming the unmet label.
func TestOwnerExplainsLabels(t *testing.T) {
	var nodes []*mesh.Node
	var seeds []string
	for _, name := range []string{"eu-1", "eu-2", "us-1"} {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName = name
		cfg.Seeds = seeds
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.Labels = map[string]string{"region": name[:2]}
		if name == "eu-1" {
			cfg.Labels[mesh.CapacityLabel] = "2"
		}
		n, err := mesh.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Close(ctx)
		})
		newP := func(string) mesh.Process {
			return mesh.ProcessFunc(func(mesh.Context, proto.Message) (proto.Message, error) { return wrapperspb.String(name), nil })
		}
		caps := []mesh.Capability{{Name: "orders", Requires: map[string]string{"region": "eu"}, New: newP},
			{Name: "ledger", Requires: map[string]string{"region": "ap"}, New: newP}}
		if name != "us-1" {
			caps = append(caps, mesh.Capability{Name: "eu-only", New: newP})
		}
		if err := n.RegisterCapabilities(caps...); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	addr := "--addr=" + nodes[2].AdminAddr()
	waitFor(t, 20*time.Second, "us-1 to see the eu nodes on the orders ring", func() bool {
		var ans admin.Owner
		code, out, _ := cli(addr, "owner", "orders", "o-1", "-o", "json")
		return code == exitOK && jsonInto(out, &ans) && len(ans.RingNodes) == 2 && len(ans.Members) == 3
	})
	var ans admin.Owner
	meshJSON(t, exitOK, &ans, addr, "owner", "orders", "o-1")
	if ans.Requires["region"] != "eu" || !strings.HasPrefix(ans.Owner, "eu-") {
		t.Fatalf("owner answer %+v", ans)
	}
	want := []admin.RingMember{{Name: "eu-1", OnRing: true, Weight: 2}, {Name: "eu-2", OnRing: true, Weight: 1},
		{Name: "us-1", Reason: "lacks label region=eu"}}
	if fmt.Sprint(ans.Members) != fmt.Sprint(want) {
		t.Fatalf("members %+v, want %+v", ans.Members, want)
	}
	code, out, errOut := cli(addr, "owner", "orders", "o-1")
	if code != exitOK {
		t.Fatalf("owner: exit %d: %s", code, errOut)
	}
	for _, line := range []string{
		"orders/o-1 is owned by " + ans.Owner,
		"over eu-1, eu-2",
		"requires region=eu",
		"eu-1 on, weight 2 -",
		"eu-2 on -",
		"us-1 off lacks label region=eu",
	} {
		if !strings.Contains(squeeze(out), line) {
			t.Errorf("owner output lacks %q:\n%s", line, out)
		}
	}
	code, out, _ = cli(addr, "owner", "eu-only", "x")
	if code != exitOK || !strings.Contains(squeeze(out), "us-1 off lacks the capability") || !strings.Contains(out, "requires no labels") {
		t.Errorf("owner eu-only: exit %d\n%s", code, out)
	}
	// No member carries region=ap: a failure naming why, not a hang.
	code, out, errOut = cli(addr, "owner", "ledger", "x")
	if code != exitFailure || !strings.Contains(errOut, `"ledger" requires region=ap`) || !strings.Contains(errOut, "us-1 lacks label region=ap") {
		t.Errorf("owner ledger: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// jsonInto decodes out into v and reports whether it could.
func jsonInto(out string, v any) bool { return json.Unmarshal([]byte(out), v) == nil }

// squeeze collapses every run of spaces in s to one.
func squeeze(s string) string { return regexp.MustCompile(` +`).ReplaceAllString(s, " ") }
