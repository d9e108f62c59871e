package crashtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/store"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// SplitView checks that a stale activation cannot save over a newer
// state: two nodes that do not see each other (a split view, as in a
// partition) both activate one counter, each over its own store opened
// with open (two pools on one database, as two machines would hold). The
// one that read the older state has its save refused: its call fails
// with mesh.ErrStore wrapping store.ErrStale, and its next call goes on
// from the newer state.
func SplitView(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	start := func(name string) *mesh.Node {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.Store = name, open(t)
		n, err := mesh.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Close(ctx)
		})
		if err := n.RegisterCapabilities(Counters(mesh.SaveOnChange)); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b := start("split-a"), start("split-b")
	call := func(n *mesh.Node, add bool) (int64, error) {
		req := mesh.Request{Capability: Capability, ID: "x", Payload: wrapperspb.String("get")}
		if add {
			req.Payload = wrapperspb.Int64(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reply, err := n.Call(ctx, req)
		if err != nil {
			return 0, err
		}
		return reply.(*wrapperspb.Int64Value).GetValue(), nil
	}
	must := func(n *mesh.Node, add bool, want int64) {
		t.Helper()
		if got, err := call(n, add); err != nil || got != want {
			t.Fatalf("%s: %d, %v; want %d", n.Name(), got, err, want)
		}
	}
	stale := func(n *mesh.Node) {
		t.Helper()
		if got, err := call(n, true); !errors.Is(err, mesh.ErrStore) || !errors.Is(err, store.ErrStale) {
			t.Fatalf("stale increment on %s: %d, %v; want ErrStore wrapping store.ErrStale", n.Name(), got, err)
		}
	}
	must(a, true, 1)
	must(b, false, 1) // b's activation read version 1
	must(a, true, 2)
	stale(b)
	must(b, true, 3) // made again from version 2
	stale(a)
	must(a, false, 3)
}
