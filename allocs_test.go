//go:build !race

package mesh_test

import (
	"context"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestWarmLocalCallAllocations bounds the heap allocations of a warm call
// to a process on the calling node: the request message and protoactor's
// scheduling of the mailbox, with a little room for a pooled timer or
// channel the garbage collector took back. It was 5 when the call's
// request, its outcome's error target and its reply escaped. (The race
// detector allocates on its own, hence the build tag.)
func TestWarmLocalCallAllocations(t *testing.T) {
	n := startNode(t, "solo", nil, echoPlain)
	waitFor(t, 5*time.Second, "echo to be placed", func() bool { _, err := n.Locate("echo", "a"); return err == nil })
	req := mesh.Request{Capability: "echo", ID: "a", Payload: wrapperspb.String("ping")}
	if _, err := n.Call(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := n.Call(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2.5 {
		t.Errorf("a warm local call makes %.1f allocations, want at most 2.5", allocs)
	}
}
