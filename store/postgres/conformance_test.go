package postgres_test

import (
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
	"github.com/meshrun/mesh/store/storetest"
)

// The Store passes the conformance suite against a real server, each
// subtest in a fresh database.
func TestConformance(t *testing.T) {
	srv := pgtest.Shared(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), srv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// The suite passes on a table of another name too, in a schema named by
// the URL's search_path.
func TestConformanceTableInSchema(t *testing.T) {
	srv := pgtest.Shared(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		url := srv.NewDatabase(t)
		srv.Exec(t, url, "CREATE SCHEMA cluster_b")
		s, err := postgres.Open(t.Context(), url+"&search_path=cluster_b", postgres.Table("states"))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Table(); got != `"states"` {
			t.Errorf("Table() = %s", got)
		}
		return s
	})
}
