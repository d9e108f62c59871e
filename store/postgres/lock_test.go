package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/meshrun/mesh/store"
)

// lockRow locks k's row in a transaction of its own and returns the
// function that ends the transaction. Until then writes of k wait.
func lockRow(t *testing.T, url string, k store.Key) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM mesh_state WHERE capability = $1 AND id = $2 FOR UPDATE`, k.Capability, []byte(k.ID)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	done := false
	unlock = func() {
		if done {
			return
		}
		done = true
		_ = tx.Rollback(ctx)
		_ = c.Close(ctx)
	}
	t.Cleanup(unlock)
	return unlock
}
