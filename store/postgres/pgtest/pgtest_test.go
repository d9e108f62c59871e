package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// query returns the one integer a query on url returns, or the error.
func query(url, sql string) (int, error) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

// A database of the shared server keeps what is written to it, and two
// databases are apart.
func TestSharedDatabases(t *testing.T) {
	srv := pgtest.Shared(t)
	if again := pgtest.Shared(t); again != srv {
		t.Fatal("a second Shared returned another server")
	}
	a, b := srv.NewDatabase(t), srv.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases with one URL %q", a)
	}
	srv.Exec(t, a, "CREATE TABLE x (n int)")
	srv.Exec(t, a, "INSERT INTO x VALUES ($1)", 42)
	if n, err := query(a, "SELECT n FROM x"); err != nil || n != 42 {
		t.Fatalf("SELECT n FROM x = %d, %v; want 42", n, err)
	}
	if _, err := query(b, "SELECT n FROM x"); err == nil {
		t.Fatal("the table of one database is seen in another")
	}
}

// A stopped server refuses connections; started again, it has the data
// committed before the stop, at the same URL.
func TestStopStart(t *testing.T) {
	srv := pgtest.New(t)
	url := srv.NewDatabase(t)
	srv.Exec(t, url, "CREATE TABLE x (n int)")
	srv.Exec(t, url, "INSERT INTO x VALUES (7)")
	srv.Stop(t)
	if _, err := query(url, "SELECT 1"); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	srv.Stop(t) // a no-op
	srv.Start(t)
	if n, err := query(url, "SELECT n FROM x"); err != nil || n != 7 {
		t.Fatalf("after a restart SELECT n FROM x = %d, %v; want 7", n, err)
	}
}
