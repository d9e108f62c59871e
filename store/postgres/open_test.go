package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// A port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never answers, as a host that
// hangs would; it closes them when the test ends.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Open fails with a typed error and starts nothing when the server cannot
// be had: refused, hung past ctx or connect_timeout, or the URL or the
// options are wrong.
func TestOpenFails(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), "postgres://mesh@"+closedPort(t)+"/mesh?sslmode=disable")
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Open of a closed port: %v; want ErrUnavailable", err)
		}
	})
	t.Run("hung until ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := postgres.Open(ctx, "postgres://mesh@"+silentServer(t)+"/mesh?sslmode=disable")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Open of a server that never answers: %v; want the context's deadline", err)
		}
		if d := time.Since(start); d >= postgres.DefaultConnectTimeout {
			t.Fatalf("Open returned after %v: the context did not bound it", d)
		}
	})
	t.Run("hung past connect_timeout", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), "postgres://mesh@"+silentServer(t)+"/mesh?sslmode=disable&connect_timeout=1")
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Open of a server that never answers, with connect_timeout=1: %v; want ErrUnavailable", err)
		}
	})
	t.Run("ended ctx", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := postgres.Open(ctx, "postgres://mesh@"+closedPort(t)+"/mesh"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Open with an ended ctx: %v; want context.Canceled", err)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		for _, url := range []string{"postgres://[::1", "postgres://h/db?sslmode=nonsense", "port=notanumber", "postgres://h:99999/db"} {
			_, err := postgres.Open(t.Context(), url)
			if err == nil || errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Open(%q): %v; want an error about the URL", url, err)
			}
		}
	})
	t.Run("password not in the error", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), "postgres://mesh:hunter2@"+closedPort(t)+"/mesh?sslmode=disable")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("Open error %v shows the password", err)
		}
	})
	t.Run("bad table", func(t *testing.T) {
		for _, name := range []string{"", "Mesh", "a-b", "9x", `a"b`, "a b", strings.Repeat("t", 64)} {
			if _, err := postgres.Open(t.Context(), "postgres://h/db", postgres.Table(name)); err == nil {
				t.Errorf("Open with Table(%q) succeeded", name)
			}
		}
	})

	srv := pgtest.Shared(t)
	t.Run("no such database", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), srv.URL("no_such_database"))
		if err == nil || errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("Open of a database that does not exist: %v; want the server's error", err)
		}
	})
	t.Run("table of another schema", func(t *testing.T) {
		for _, c := range []struct{ name, create string }{
			{"wrong type", `CREATE TABLE mesh_state (capability text, id text, version bigint, type bytea, format bigint, data bytea, PRIMARY KEY (capability, id))`},
			{"missing column", `CREATE TABLE mesh_state (capability text, id bytea, version bigint, type bytea, data bytea, PRIMARY KEY (capability, id))`},
			{"no key", `CREATE TABLE mesh_state (capability text, id bytea, version bigint, type bytea, format bigint, data bytea)`},
			{"key of other columns", `CREATE TABLE mesh_state (capability text, id bytea, version bigint, type bytea, format bigint, data bytea, PRIMARY KEY (capability, id, version))`},
		} {
			url := srv.NewDatabase(t)
			srv.Exec(t, url, c.create)
			if _, err := postgres.Open(t.Context(), url); !errors.Is(err, postgres.ErrSchema) {
				t.Errorf("%s: Open: %v; want ErrSchema", c.name, err)
			}
		}
	})
}

// Nodes starting together on an empty database all open it: one creates
// the table, the others find it.
func TestOpenTogether(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	const n = 8
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		k := store.Key{Capability: "c", ID: fmt.Sprint(i)}
		mustSave(t, stores[i], k, store.Record{Version: 1})
		stores[i].Close()
	}
}

// A ctx that ends while a write waits for the row (held by another
// transaction) fails the write with the ctx's error; the write is then
// done or not, never half done, and the store goes on.
func TestContextEndsMidWrite(t *testing.T) {
	srv := pgtest.Shared(t)
	url := srv.NewDatabase(t)
	s := open(t, url)
	k := store.Key{Capability: "counter", ID: "locked"}
	before := store.Record{Version: 1, Data: []byte("before")}
	mustSave(t, s, k, before)

	for _, op := range []string{"save", "delete"} {
		t.Run(op, func(t *testing.T) {
			rec, err := s.Load(t.Context(), k)
			if err != nil {
				t.Fatal(err)
			}
			lock := lockRow(t, url, k)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			next := store.Record{Version: rec.Version + 1, Data: []byte("during")}
			if op == "save" {
				err = s.Save(ctx, k, next)
			} else {
				err = s.Delete(ctx, k, rec.Version)
			}
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s while the row is locked past the deadline: %v; want context.DeadlineExceeded", op, err)
			}
			lock()

			got, err := s.Load(t.Context(), k)
			switch {
			case err == nil && got.Version == rec.Version && string(got.Data) == string(rec.Data):
				t.Logf("%s was not done", op)
			case op == "save" && err == nil && got.Version == next.Version && string(got.Data) == "during":
				t.Logf("%s was done", op)
			case op == "delete" && errors.Is(err, store.ErrNotFound) && got.Version == rec.Version+1:
				t.Logf("%s was done", op)
			default:
				t.Fatalf("after the %s: Load = %+v, %v", op, got, err)
			}
			// What the reload showed is what stays: no write of the failed
			// call lands after it (a Save that follows the reload is not
			// stale).
			time.Sleep(100 * time.Millisecond)
			mustSave(t, s, k, store.Record{Version: got.Version + 1, Data: []byte("after")})
		})
	}
}

// A role that may only read and write the table, made for it beforehand,
// opens it; without the table, Open fails with the server's refusal.
func TestOpenWithoutCreatePrivilege(t *testing.T) {
	srv := pgtest.Shared(t)
	url := srv.NewDatabase(t)
	srv.Exec(t, url, `DROP ROLE IF EXISTS mesh_app`)
	srv.Exec(t, url, `CREATE ROLE mesh_app LOGIN`)
	t.Cleanup(func() { srv.Exec(t, url, `DROP OWNED BY mesh_app; DROP ROLE mesh_app`) })
	srv.Exec(t, url, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
	appURL := strings.Replace(url, "postgres@", "mesh_app@", 1)

	_, err := postgres.Open(t.Context(), appURL)
	if err == nil || errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Open with no table and no CREATE privilege: %v; want the server's permission error", err)
	}

	admin := open(t, url) // creates the table
	admin.Close()
	srv.Exec(t, url, `GRANT SELECT, INSERT, UPDATE ON mesh_state TO mesh_app`)
	s := open(t, appURL)
	mustSave(t, s, store.Key{Capability: "c", ID: "x"}, store.Record{Version: 1, Data: []byte("x")})
}
