package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/shard"
)

// shardOwners maps every shard of capability to its owner as n sees it.
func shardOwners(t *testing.T, n *mesh.Node, capability string) map[uint32]string {
	t.Helper()
	owners := map[uint32]string{}
	for i := 0; len(owners) < shard.DefaultShards && i < 1_000_000; i++ {
		p, err := n.Locate(capability, fmt.Sprint("shard-probe-", i))
		if err != nil {
			t.Fatal(err)
		}
		owners[p.Shard] = p.Owner
	}
	return owners
}

// invalidIDOn returns an ID that is not valid UTF-8 and whose shard owner
// is on.
func invalidIDOn(t *testing.T, owners map[uint32]string, on string) string {
	t.Helper()
	for i := range 10000 {
		id := fmt.Sprintf("\xff\xfe-%d", i)
		if owners[shard.Of(id, shard.DefaultShards)] == on {
			return id
		}
	}
	t.Fatalf("no invalid ID on %s", on)
	return ""
}

// TestIDsMustBeUTF8Everywhere: an ID that is not valid UTF-8 is refused at
// once with ErrInvalidRequest whether its owner is local or remote, by
// Call, Cast and Locate alike, and nothing is activated for it; an ID of
// non-ASCII UTF-8 works locally and remotely.
func TestIDsMustBeUTF8Everywhere(t *testing.T) {
	var made atomic.Int64
	nodes := startCluster(t, 2, counted(echo("n"), &made))
	caller := nodes[0]
	owners := shardOwners(t, caller, "echo")
	for _, owner := range nodes {
		id := invalidIDOn(t, owners, owner.Name())
		t.Run("invalid on "+owner.Name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req := mesh.Request{Capability: "echo", ID: id, Payload: wrapString("x")}
			if _, err := caller.Call(ctx, req); !errors.Is(err, mesh.ErrInvalidRequest) {
				t.Fatalf("Call: %v, want ErrInvalidRequest", err)
			}
			if err := caller.Cast(ctx, req); !errors.Is(err, mesh.ErrInvalidRequest) {
				t.Fatalf("Cast: %v, want ErrInvalidRequest", err)
			}
			if _, err := caller.Locate("echo", id); !errors.Is(err, mesh.ErrInvalidRequest) {
				t.Fatalf("Locate: %v, want ErrInvalidRequest", err)
			}
		})
	}
	if made.Load() != 0 {
		t.Fatalf("%d activations for invalid IDs", made.Load())
	}
	for _, owner := range nodes {
		var id string
		for i := 0; id == ""; i++ {
			cand := fmt.Sprintf("zürich-東京-🙂-%d", i)
			if p, err := caller.Locate("echo", cand); err == nil && p.Owner == owner.Name() {
				id = cand
			}
		}
		t.Run("unicode on "+owner.Name(), func(t *testing.T) {
			if got, want := call(t, caller, "echo", id, "hi"), "n/"+id+"/1: hi"; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

// TestExpiredWorkIsNotSent: calls and casts whose deadline has passed, or
// whose context is canceled, fail with ErrDeadlineExceeded (or ErrCanceled)
// alone, local and remote, and activate nothing anywhere.
func TestExpiredWorkIsNotSent(t *testing.T) {
	var made atomic.Int64
	nodes := startCluster(t, 2, counted(echo("n"), &made))
	caller := nodes[0]
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	const calls = 10_000
	for i := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		req := mesh.Request{Capability: "echo", ID: fmt.Sprint("expired-", i), Payload: wrapString("x")}
		_, err := caller.Call(ctx, req)
		if !errors.Is(err, mesh.ErrDeadlineExceeded) || errors.Is(err, mesh.ErrUnreachable) {
			t.Fatalf("call %d with a 1 ns deadline: %v; want ErrDeadlineExceeded alone", i, err)
		}
		if err := caller.Cast(ctx, req); !errors.Is(err, mesh.ErrDeadlineExceeded) {
			t.Fatalf("cast %d with a 1 ns deadline: %v; want ErrDeadlineExceeded", i, err)
		}
		cancel()
		if i%100 == 0 {
			if _, err := caller.Call(canceled, req); !errors.Is(err, mesh.ErrCanceled) || !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled call: %v; want ErrCanceled", err)
			}
			if err := caller.Cast(canceled, req); !errors.Is(err, mesh.ErrCanceled) {
				t.Fatalf("canceled cast: %v; want ErrCanceled", err)
			}
		}
	}
	// Give anything that was sent all the same time to arrive.
	call(t, caller, "echo", "after", "x")
	time.Sleep(100 * time.Millisecond)
	if got := made.Load(); got != 1 {
		t.Fatalf("%d activations; want 1 (the live call's), none for %d expired calls", got, calls)
	}
}
