package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fragile is a capability whose processes count messages, panic on
// "boom", fail on "fail", and sleep on "slow".
func fragile(node string, made *atomic.Int64) mesh.Capability {
	return mesh.Capability{Name: "fragile", New: func(id string) mesh.Process {
		made.Add(1)
		n := 0
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			n++
			switch msg.(*wrapperspb.StringValue).GetValue() {
			case "boom":
				panic("boom")
			case "fail":
				return nil, errors.New("refused by the process")
			case "slow":
				time.Sleep(300 * time.Millisecond)
			}
			return wrapperspb.String(fmt.Sprintf("%s/%s/%d", node, id, n)), nil
		})
	}}
}

func TestProcessPanicIsContained(t *testing.T) {
	var made atomic.Int64
	nodes := startCluster(t, 2)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(fragile(n.Name(), &made)); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	ctx := context.Background()
	for _, from := range nodes {
		for _, id := range []string{"p-1", "p-2", "p-3", "p-4"} {
			owner, _ := from.Locate("fragile", id)
			t.Run(fmt.Sprintf("%s calls %s on %s", from.Name(), id, owner.Owner), func(t *testing.T) {
				send := func(id, s string) (string, error) {
					reply, err := from.Call(ctx, mesh.Request{Capability: "fragile", ID: id, Payload: wrapString(s)})
					if err != nil {
						return "", err
					}
					return stringOf(reply), nil
				}
				bystander := "bystander-of-" + id + "-from-" + from.Name()
				send(bystander, "x")
				before, _ := send(id, "x")
				if _, err := send(id, "boom"); !errors.Is(err, mesh.ErrProcessFailed) {
					t.Fatalf("panic gave %v, want ErrProcessFailed", err)
				}
				after, err := send(id, "x")
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(after, "/1") {
					t.Fatalf("after a panic the process answered %q (from %q before): want it made anew", after, before)
				}
				if got, _ := send(bystander, "x"); !strings.HasSuffix(got, "/2") {
					t.Fatalf("another process was disturbed: %q", got)
				}
			})
		}
	}
}

func TestCallErrors(t *testing.T) {
	var made atomic.Int64
	nodes := startCluster(t, 2)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(fragile(n.Name(), &made)); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	remoteID := idOwnedBy(t, nodes[0], "fragile", nodes[1].Name())
	localID := idOwnedBy(t, nodes[0], "fragile", nodes[0].Name())
	long := strings.Repeat("x", mesh.MaxIDLen+1)
	for _, tc := range []struct {
		name    string
		req     mesh.Request
		timeout time.Duration
		want    []error
	}{
		{"empty capability", mesh.Request{ID: "a", Payload: wrapString("x")}, 0, []error{mesh.ErrInvalidRequest}},
		{"bad capability", mesh.Request{Capability: "a b", ID: "a", Payload: wrapString("x")}, 0, []error{mesh.ErrInvalidRequest}},
		{"empty ID", mesh.Request{Capability: "fragile", Payload: wrapString("x")}, 0, []error{mesh.ErrInvalidRequest}},
		{"ID too long", mesh.Request{Capability: "fragile", ID: long, Payload: wrapString("x")}, 0, []error{mesh.ErrInvalidRequest}},
		{"nil payload", mesh.Request{Capability: "fragile", ID: "a"}, 0, []error{mesh.ErrInvalidRequest}},
		{"nobody offers it", mesh.Request{Capability: "nobody", ID: "a", Payload: wrapString("x")}, 0, []error{mesh.ErrNoNode}},
		{"slow local", mesh.Request{Capability: "fragile", ID: localID, Payload: wrapString("slow")}, 100 * time.Millisecond,
			[]error{mesh.ErrDeadlineExceeded, context.DeadlineExceeded}},
		{"slow remote", mesh.Request{Capability: "fragile", ID: remoteID, Payload: wrapString("slow")}, 100 * time.Millisecond,
			[]error{mesh.ErrDeadlineExceeded, context.DeadlineExceeded}},
		{"process error local", mesh.Request{Capability: "fragile", ID: localID, Payload: wrapString("fail")}, 0, nil},
		{"process error remote", mesh.Request{Capability: "fragile", ID: remoteID, Payload: wrapString("fail")}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := nodes[0].Call(ctx, tc.req)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.timeout > 0 && time.Since(start) > tc.timeout+200*time.Millisecond {
				t.Fatalf("returned after %v with a %v deadline", time.Since(start), tc.timeout)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("got %v, want it to match %v", err, w)
				}
			}
			if tc.want == nil {
				var pe *mesh.ProcessError
				if !errors.As(err, &pe) || pe.Msg != "refused by the process" || pe.ID != tc.req.ID {
					t.Fatalf("got %v, want a *ProcessError with the process's message", err)
				}
			}
			if err := nodes[0].Cast(context.Background(), tc.req); tc.want != nil && errors.Is(tc.want[0], mesh.ErrInvalidRequest) && !errors.Is(err, mesh.ErrInvalidRequest) {
				t.Fatalf("cast of an invalid request gave %v", err)
			}
		})
	}
}

func TestClosedAndDefaultNode(t *testing.T) {
	ctx := context.Background()
	prev := mesh.Default()
	mesh.SetDefault(nil)
	t.Cleanup(func() { mesh.SetDefault(prev) })
	req := mesh.Request{Capability: "echo", ID: "a", Payload: wrapString("x")}
	if _, err := mesh.Call(ctx, req); !errors.Is(err, mesh.ErrNoDefaultNode) {
		t.Fatalf("Call before any node: %v", err)
	}
	if err := mesh.Cast(ctx, req); !errors.Is(err, mesh.ErrNoDefaultNode) {
		t.Fatalf("Cast before any node: %v", err)
	}
	if err := mesh.RegisterCapabilities(echo("x")); !errors.Is(err, mesh.ErrNoDefaultNode) {
		t.Fatalf("RegisterCapabilities before any node: %v", err)
	}

	n := startNode(t, "solo", nil)
	if mesh.Default() != n {
		t.Fatal("the first node started is not the default")
	}
	if err := mesh.RegisterCapabilities(echo("solo")); err != nil {
		t.Fatal(err)
	}
	// The node routes by its own registration as soon as it returns.
	if _, err := n.Locate("echo", "a"); err != nil {
		t.Fatalf("just after RegisterCapabilities: %v", err)
	}
	if reply, err := mesh.Call(ctx, req); err != nil || stringOf(reply) != "solo/a/1: x" {
		t.Fatalf("Call through the default node: %v, %v", reply, err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if mesh.Default() != nil {
		t.Fatal("a closed node is still the default")
	}
	if _, err := n.Call(ctx, req); !errors.Is(err, mesh.ErrClosed) {
		t.Fatalf("Call on a closed node: %v", err)
	}
	if err := n.Cast(ctx, req); !errors.Is(err, mesh.ErrClosed) {
		t.Fatalf("Cast on a closed node: %v", err)
	}
	if err := n.RegisterCapabilities(echo("x")); !errors.Is(err, mesh.ErrClosed) {
		t.Fatalf("RegisterCapabilities on a closed node: %v", err)
	}
}

func TestCastDelivers(t *testing.T) {
	got := make(chan string, 16)
	sink := func(node string) mesh.Capability {
		return mesh.Capability{Name: "sink", New: func(id string) mesh.Process {
			return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
				if !ctx.Cast() {
					return nil, errors.New("expected a cast")
				}
				got <- fmt.Sprintf("%s/%s: %s", node, id, stringOf(msg))
				return nil, nil
			})
		}}
	}
	nodes := startCluster(t, 2)
	for _, n := range nodes {
		if err := n.RegisterCapabilities(sink(n.Name())); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, nodes...)
	for _, owner := range nodes {
		id := idOwnedBy(t, nodes[0], "sink", owner.Name())
		if err := nodes[0].Cast(context.Background(), mesh.Request{Capability: "sink", ID: id, Payload: wrapString("hello")}); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if want := fmt.Sprintf("%s/%s: hello", owner.Name(), id); s != want {
				t.Fatalf("delivered %q, want %q", s, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("cast to %s on %s never arrived", id, owner.Name())
		}
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	base := mesh.DefaultLocalConfig()
	base.NodeName = "n"
	busy := startNode(t, "busy", nil)
	for _, tc := range []struct {
		name string
		edit func(*mesh.Config)
		want error
	}{
		{"no name", func(c *mesh.Config) { c.NodeName = "" }, mesh.ErrInvalidConfig},
		{"bad gossip address", func(c *mesh.Config) { c.GossipAddr = "nope" }, mesh.ErrInvalidConfig},
		{"bad remote port", func(c *mesh.Config) { c.RemoteAddr = "127.0.0.1:70000" }, mesh.ErrInvalidConfig},
		{"too many shards", func(c *mesh.Config) { c.Shards = 1 << 20 }, mesh.ErrInvalidConfig},
		{"negative timeout", func(c *mesh.Config) { c.CallTimeout = -time.Second }, mesh.ErrInvalidConfig},
		{"wildcard remote without advertise", func(c *mesh.Config) { c.RemoteAddr = "0.0.0.0:0" }, mesh.ErrInvalidConfig},
		{"bad seed", func(c *mesh.Config) { c.Seeds = []string{"no-port"} }, mesh.ErrInvalidConfig},
		{"remote port taken", func(c *mesh.Config) { c.RemoteAddr = busy.RemoteAddr() }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			n, err := mesh.Start(context.Background(), cfg)
			if err == nil {
				_ = n.Close(context.Background())
				t.Fatal("started")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// idOwnedBy returns an ID of capability that n places on owner.
func idOwnedBy(t *testing.T, n *mesh.Node, capability, owner string) string {
	t.Helper()
	for i := range 10000 {
		id := fmt.Sprint("probe-", i)
		if p, err := n.Locate(capability, id); err == nil && p.Owner == owner {
			return id
		}
	}
	t.Fatalf("no ID of %s is placed on %s", capability, owner)
	return ""
}
