package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/meshrun/mesh/store"
)

// ErrSchema reports, from Open, a table that exists but does not have the
// columns and key of the Store's schema (see the package documentation):
// a table of another program, or one changed by hand. Open changes
// nothing in it.
var ErrSchema = errors.New("store/postgres: table does not have the store's schema")

// unavailable reports whether the server's error means it cannot serve
// now rather than that the statement is wrong: SQLSTATE classes 08
// (connection exception), 53 (insufficient resources: too many
// connections, disk full), 57 (operator intervention: shutdown, restart,
// a query canceled by the server), 58 (system error), and 25006 (a
// read-only server: a standby, as after a failover).
func unavailable(e *pgconn.PgError) bool {
	if len(e.Code) != 5 {
		return false
	}
	switch e.Code[:2] {
	case "08", "53", "57", "58":
		return true
	}
	return e.Code == "25006"
}

// fail turns the error of an operation on k into the error the Store
// returns: ErrClosed once the store is closed; the context's error if it
// ended; ErrCorrupt for a row that cannot be scanned; the server's own
// error for a statement it refused; else ErrUnavailable (the connection
// failed or could not be made).
func (s *Store) fail(ctx context.Context, op string, k store.Key, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %s %q", store.ErrClosed, op, k.String())
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("store/postgres: %s %q: %w (%w)", op, k.String(), cerr, err)
	}
	var scan pgx.ScanArgError
	if errors.As(err, &scan) {
		return fmt.Errorf("%w: %s %q: %w", store.ErrCorrupt, op, k.String(), err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && !unavailable(pg) {
		return fmt.Errorf("store/postgres: %s %q: %w", op, k.String(), err)
	}
	return fmt.Errorf("%w: %s %q: %w", store.ErrUnavailable, op, k.String(), err)
}
