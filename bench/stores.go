package main

// The durable stores the benchmark measures: on their own in workload S,
// and under mesh's save-on-change in the save contenders of B5 and C1.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/sqlite"
)

// postgresEnv names the environment variable holding the URL of a
// PostgreSQL database the benchmark may use: it creates a table of its own
// there for every run and drops it afterwards. scripts/bench.sh starts a
// throwaway server and sets it when PostgreSQL is installed.
const postgresEnv = "MESH_BENCH_POSTGRES_URL"

// The stores of workload S.
const (
	storeMemory       = "memory"        // store.NewMemory
	storeSQLiteFull   = "sqlite-full"   // sqlite.Open, SyncFull
	storeSQLiteNormal = "sqlite-normal" // sqlite.Open, SyncNormal
	storePostgres     = "postgres"      // postgres.Open, default pool
)

// stores are S's contenders, in the order of its table.
var stores = []string{storeMemory, storeSQLiteFull, storeSQLiteNormal, storePostgres}

// The contenders that save on change: mesh, whose echo process counts its
// messages and saves after each, to a store every node process shares.
const (
	meshSave   = "mesh+save"    // one SQLite file (SyncFull) for all node processes
	meshSavePG = "mesh+save-pg" // one PostgreSQL table for all node processes
)

// notRunPG is the error of a run that needs PostgreSQL when none is
// configured: the report shows it as not run, never as a figure.
const notRunPG = "not run: no PostgreSQL"

// needsPostgres reports whether contender (a mesh contender or a store of
// S) runs against PostgreSQL.
func needsPostgres(contender string) bool {
	return contender == meshSavePG || contender == storePostgres
}

// savesState reports whether contender is mesh saving on change.
func savesState(contender string) bool { return contender == meshSave || contender == meshSavePG }

// isMesh reports whether contender is mesh through its public API, in any
// configuration.
func isMesh(contender string) bool {
	return contender == meshC || contender == meshTLS || savesState(contender)
}

// storeArgs names the store a node process, or workload S, opens.
type storeArgs struct {
	// Kind is "memory", "sqlite" or "postgres".
	Kind string `json:"kind"`
	// Path is the SQLite file; Normal selects SyncNormal over SyncFull.
	Path   string `json:"path,omitempty"`
	Normal bool   `json:"normal,omitempty"`
	// URL and Table are the PostgreSQL database and the table in it.
	URL   string `json:"url,omitempty"`
	Table string `json:"table,omitempty"`
}

// openStore opens the store a names.
func openStore(ctx context.Context, a storeArgs) (store.Store, error) {
	switch a.Kind {
	case "memory":
		return store.NewMemory(), nil
	case "sqlite":
		sync := sqlite.SyncFull
		if a.Normal {
			sync = sqlite.SyncNormal
		}
		return sqlite.Open(a.Path, sqlite.WithSync(sync))
	case "postgres":
		return postgres.Open(ctx, a.URL, postgres.Table(a.Table))
	}
	return nil, fmt.Errorf("unknown store %q", a.Kind)
}

// freshStore returns a store of its own for one run of contender (a save
// contender or a store of S), and the function that removes it: a new
// SQLite file in the run's temporary directory, or a new table in the
// PostgreSQL database of postgresEnv.
func (r *runner) freshStore(contender string) (storeArgs, func(), error) {
	r.seq++
	switch contender {
	case storeMemory:
		return storeArgs{Kind: "memory"}, func() {}, nil
	case storeSQLiteFull, storeSQLiteNormal, meshSave:
		path := filepath.Join(r.tmp, fmt.Sprintf("%03d-store.db", r.seq))
		return storeArgs{Kind: "sqlite", Path: path, Normal: contender == storeSQLiteNormal}, func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(path + suffix)
			}
		}, nil
	case storePostgres, meshSavePG:
		if r.pgURL == "" {
			return storeArgs{}, nil, errors.New(notRunPG)
		}
		a := storeArgs{Kind: "postgres", URL: r.pgURL, Table: fmt.Sprintf("meshbench_%d_%d", os.Getpid(), r.seq)}
		return a, func() {
			if err := dropTable(a.URL, a.Table); err != nil {
				r.logf("postgres: %v", err)
			}
		}, nil
	}
	return storeArgs{}, nil, fmt.Errorf("%s keeps no store", contender)
}

// dropTable drops a run's table.
func dropTable(url, table string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("drop table %s: %w", table, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
		return fmt.Errorf("drop table %s: %w", table, err)
	}
	return nil
}
