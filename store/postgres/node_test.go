package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crashtest"
	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres/pgtest"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// nodeURLEnv gives a node process of crashtest the database to open.
const nodeURLEnv = "MESH_TEST_POSTGRES_URL"

// TestKill9KeepsAcknowledged: three node processes share one database
// while a client increments 1,000 counters; node-2 is killed with SIGKILL
// and started again. Saving on change, no acknowledged increment is
// lost; saving on stop, some are, and the test prints how many.
func TestKill9KeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	srv := pgtest.Shared(t)
	for _, mode := range []mesh.SaveMode{mesh.SaveOnChange, mesh.SaveOnStop} {
		t.Run(mode.String(), func(t *testing.T) {
			url := srv.NewDatabase(t)
			res := crashtest.Scenario{Mode: mode, Env: []string{nodeURLEnv + "=" + url}}.Run(t)
			t.Logf("PostgreSQL, saving %s, kill -9 of one of 3 nodes: %v", mode, res)
			res.Check(t, mode)
		})
	}
}

// TestSplitViewStaleSaveRefused: two nodes that do not see each other,
// each with its own pool on one database: the stale activation's save is
// refused.
func TestSplitViewStaleSaveRefused(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	crashtest.SplitView(t, func(t *testing.T) store.Store { return open(t, url) })
}

// TestNodeThroughAnOutage: while the server is down, a process that saves
// on change fails every call with mesh.ErrStore and acknowledges nothing;
// once it is back, the node serves again without a restart, from the
// last acknowledged count.
func TestNodeThroughAnOutage(t *testing.T) {
	srv := pgtest.New(t)
	url := srv.NewDatabase(t)
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName, cfg.Store = "node-1", open(t, url)
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	if err := n.RegisterCapabilities(crashtest.Counters(mesh.SaveOnChange)); err != nil {
		t.Fatal(err)
	}
	add := func() (int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reply, err := n.Call(ctx, mesh.Request{Capability: crashtest.Capability, ID: "x", Payload: wrapperspb.Int64(1)})
		if err != nil {
			return 0, err
		}
		return reply.(*wrapperspb.Int64Value).GetValue(), nil
	}
	for i := range 5 {
		if got, err := add(); err != nil || got != int64(i+1) {
			t.Fatalf("increment %d: %d, %v", i+1, got, err)
		}
	}
	srv.Stop(t)
	for range 3 {
		if got, err := add(); !errors.Is(err, mesh.ErrStore) {
			t.Fatalf("increment with the server down: %d, %v; want ErrStore", got, err)
		}
	}
	srv.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := add()
		if err == nil {
			if got != 6 {
				t.Fatalf("first increment after the outage counts %d, want 6", got)
			}
			break
		}
		if !errors.Is(err, mesh.ErrStore) || time.Now().After(deadline) {
			t.Fatalf("increment after the server is back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
