package postgres_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/meshrun/mesh/internal/crashtest"
	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/postgres"
	"github.com/meshrun/mesh/store/postgres/pgtest"
)

// One server for the test binary; tests that stop a server take their own.
func TestMain(m *testing.M) {
	// A node process of TestKill9KeepsAcknowledged serves and exits here.
	crashtest.Serve(func() (store.Store, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return postgres.Open(ctx, os.Getenv(nodeURLEnv))
	})
	pgtest.Main(m)
}

// open opens a Store on url and closes it when the test ends.
func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustSave saves rec and fails the test if the store refuses it.
func mustSave(t testing.TB, s store.Store, k store.Key, rec store.Record) {
	t.Helper()
	if err := s.Save(t.Context(), k, rec); err != nil {
		t.Fatalf("Save(%q, version %d): %v", k.String(), rec.Version, err)
	}
}
