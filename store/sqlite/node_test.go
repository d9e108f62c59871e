package sqlite_test

import (
	"os"
	"testing"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/crashtest"
	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// nodePathEnv gives a node process of crashtest the database file.
const nodePathEnv = "MESH_TEST_SQLITE_PATH"

// serveNode makes this process a node of TestKill9KeepsAcknowledged,
// when it was started as one.
func serveNode() {
	crashtest.Serve(func() (store.Store, error) { return sqlite.Open(os.Getenv(nodePathEnv)) })
}

// TestKill9KeepsAcknowledged: three node processes share one database
// file while a client increments 1,000 counters; node-2 is killed with
// SIGKILL and started again. Saving on change, no acknowledged increment
// is lost; saving on stop, some are, and the test prints how many.
func TestKill9KeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	for _, mode := range []mesh.SaveMode{mesh.SaveOnChange, mesh.SaveOnStop} {
		t.Run(mode.String(), func(t *testing.T) {
			path := dbPath(t)
			res := crashtest.Scenario{Mode: mode, Env: []string{nodePathEnv + "=" + path}}.Run(t)
			t.Logf("SQLite, saving %s, kill -9 of one of 3 nodes: %v", mode, res)
			res.Check(t, mode)
		})
	}
}

// TestSplitViewStaleSaveRefused: two nodes that do not see each other,
// each with its own Store on one file: the stale activation's save is
// refused.
func TestSplitViewStaleSaveRefused(t *testing.T) {
	path := dbPath(t)
	crashtest.SplitView(t, func(t *testing.T) store.Store { return mustOpen(t, path) })
}
