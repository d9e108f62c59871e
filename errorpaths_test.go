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

// TestEveryErrorWrapsItsSentinel walks the error paths a user can reach
// and checks each error against the sentinel the documentation promises.
func TestEveryErrorWrapsItsSentinel(t *testing.T) {
	var made atomic.Int64
	withAdmin := func(c *mesh.Config) { c.AdminAddr = "127.0.0.1:0" }
	a := startNodeWith(t, "a", nil, withAdmin, fragile("a", &made))
	b := startNode(t, "b", []string{a.GossipAddr()}, fragile("b", &made))
	waitConverged(t, a, b)
	closed := startNode(t, "closed", nil)
	if err := closed.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	remoteID := idOwnedBy(t, a, "fragile", "b")
	localID := idOwnedBy(t, a, "fragile", "a")
	bg := context.Background()
	req := func(c, id, msg string) mesh.Request {
		return mesh.Request{Capability: c, ID: id, Payload: wrapString(msg)}
	}
	callErr := func(n *mesh.Node, r mesh.Request) func() error {
		return func() error { _, err := n.Call(bg, r); return err }
	}
	start := func(edit func(*mesh.Config)) func() error {
		return func() error {
			cfg := mesh.DefaultLocalConfig()
			cfg.NodeName = "late"
			edit(&cfg)
			n, err := mesh.Start(bg, cfg)
			if err == nil {
				_ = n.Close(bg)
			}
			return err
		}
	}
	many := make([]mesh.Capability, 40)
	for i := range many {
		many[i] = mesh.Capability{Name: fmt.Sprintf("capability-with-a-long-name-%02d", i), New: fragile("a", &made).New}
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want []error
	}{
		{"Start: invalid config", start(func(c *mesh.Config) { c.NodeName = "" }), []error{mesh.ErrInvalidConfig}},
		{"Start: remote port taken", start(func(c *mesh.Config) { c.RemoteAddr = a.RemoteAddr() }), []error{mesh.ErrStart}},
		{"Start: gossip port taken", start(func(c *mesh.Config) { c.GossipAddr = a.GossipAddr() }), []error{mesh.ErrStart}},
		{"Start: admin port taken", start(func(c *mesh.Config) { c.AdminAddr = a.AdminAddr() }), []error{mesh.ErrStart}},
		{"Register: invalid name", func() error { return a.RegisterCapabilities(mesh.Capability{Name: "a b", New: many[0].New}) }, []error{mesh.ErrInvalidCapability}},
		{"Register: no New", func() error { return a.RegisterCapabilities(mesh.Capability{Name: "nonew"}) }, []error{mesh.ErrInvalidCapability}},
		{"Register: twice in one call", func() error { return a.RegisterCapabilities(many[0], many[0]) }, []error{mesh.ErrDuplicateCapability}},
		{"Register: already offered", func() error { return a.RegisterCapabilities(fragile("a", &made)) }, []error{mesh.ErrDuplicateCapability}},
		{"Register: metadata too large", func() error { return a.RegisterCapabilities(many...) }, []error{mesh.ErrMetaTooLarge}},
		{"Register: closed node", func() error { return closed.RegisterCapabilities(many[0]) }, []error{mesh.ErrClosed}},
		{"Unregister: closed node", func() error { return closed.UnregisterCapabilities("x") }, []error{mesh.ErrClosed}},
		{"Call: bad capability", callErr(a, req("a b", "x", "x")), []error{mesh.ErrInvalidRequest, mesh.ErrInvalidCapability}},
		{"Call: empty ID", callErr(a, req("fragile", "", "x")), []error{mesh.ErrInvalidRequest}},
		{"Call: nil payload", callErr(a, mesh.Request{Capability: "fragile", ID: "x"}), []error{mesh.ErrInvalidRequest}},
		{"Call: nobody offers it", callErr(a, req("nobody", "x", "x")), []error{mesh.ErrNoNode}},
		{"Call: unmarshalable payload, remote", callErr(a, req("fragile", remoteID, "\xff")), []error{mesh.ErrBadPayload}},
		{"Call: process panics, local", callErr(a, req("fragile", localID, "boom")), []error{mesh.ErrProcessFailed}},
		{"Call: process panics, remote", callErr(a, req("fragile", remoteID, "boom")), []error{mesh.ErrProcessFailed}},
		{"Call: closed node", callErr(closed, req("fragile", "x", "x")), []error{mesh.ErrClosed}},
		{"Cast: invalid", func() error { return a.Cast(bg, req("", "x", "x")) }, []error{mesh.ErrInvalidRequest}},
		{"Cast: nobody offers it", func() error { return a.Cast(bg, req("nobody", "x", "x")) }, []error{mesh.ErrNoNode}},
		{"Cast: unmarshalable payload, remote", func() error { return a.Cast(bg, req("fragile", remoteID, "\xff")) }, []error{mesh.ErrBadPayload}},
		{"Cast: closed node", func() error { return closed.Cast(bg, req("fragile", "x", "x")) }, []error{mesh.ErrClosed}},
		{"Locate: invalid", func() error { _, err := a.Locate("fragile", ""); return err }, []error{mesh.ErrInvalidRequest}},
		{"Locate: nobody offers it", func() error { _, err := a.Locate("nobody", "x"); return err }, []error{mesh.ErrNoNode}},
		{"Ping: not a member", func() error { _, err := a.Ping(bg, "nobody"); return err }, []error{mesh.ErrUnknownMember}},
		{"Ping: no answer in time", func() error {
			ctx, cancel := context.WithCancel(bg)
			cancel()
			_, err := a.Ping(ctx, "b")
			return err
		}, []error{mesh.ErrUnreachable, context.Canceled}},
		{"Ping: closed node", func() error { _, err := closed.Ping(bg, "a"); return err }, []error{mesh.ErrClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("%v does not match %v", err, w)
				}
			}
		})
	}
}
