package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/meshrun/mesh/store"
)

// Store is a store.Store kept in a PostgreSQL table, shared by every node
// (and process) that opens the same table. Create one with Open.
type Store struct {
	pool  *pgxpool.Pool
	table string // quoted

	// The statements, with the table name in them.
	load, current, insert, update, del string

	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url, creates the table of records if
// it does not exist (see the package documentation for the schema), and
// returns a Store over a pool of connections. url is a PostgreSQL URL or
// key=value string, as libpq takes, e.g.
// postgres://mesh:secret@db.example:5432/mesh?sslmode=verify-full.
//
// Open fails, with everything it opened closed again, if url is not
// valid, if the server cannot be reached or refuses the connection before
// ctx ends (an error wrapping store.ErrUnavailable, or ctx.Err()), or if
// the table exists with another schema (ErrSchema). If the URL sets no
// connect_timeout, each attempt to connect, at Open and when the pool
// reconnects later, is bounded by DefaultConnectTimeout.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{table: DefaultTable}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := validTable(o.table); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: open: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: open: %w", err)
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// When a ctx ends mid-statement, ask the server to cancel the
	// statement and wait for its answer, rather than drop the connection
	// at once: a dropped connection leaves the statement running on the
	// server (waiting for a row lock, say), to commit after the caller
	// was told it failed and had reloaded. Only a server that does not
	// answer within CancelWait has its connection dropped.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: CancelWait}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: open: %w", err)
	}
	if err := ensureSchema(ctx, pool, o.table); err != nil {
		pool.Close()
		var pg *pgconn.PgError
		switch {
		case errors.Is(err, ErrSchema):
			return nil, err
		case ctx.Err() != nil:
			return nil, fmt.Errorf("store/postgres: open: %w (%w)", ctx.Err(), err)
		case errors.As(err, &pg) && !unavailable(pg):
			return nil, fmt.Errorf("store/postgres: open: %w", err)
		}
		return nil, fmt.Errorf("%w: store/postgres: open: %w", store.ErrUnavailable, err)
	}
	t := pgx.Identifier{o.table}.Sanitize()
	return &Store{
		pool:    pool,
		table:   t,
		load:    `SELECT version, type, format, data FROM ` + t + ` WHERE capability = $1 AND id = $2`,
		current: `SELECT version, data IS NOT NULL FROM ` + t + ` WHERE capability = $1 AND id = $2`,
		// The first version: a new row only (the store leaves no row
		// at version 0).
		insert: `INSERT INTO ` + t + ` (capability, id, version, type, format, data)
			VALUES ($1, $2, 1, $3, $4, $5)
			ON CONFLICT (capability, id) DO NOTHING
			RETURNING version`,
		// Any later version: only over the one before it. A live row or
		// a tombstone alike.
		update: `UPDATE ` + t + ` SET version = $3, type = $4, format = $5, data = $6
			WHERE capability = $1 AND id = $2 AND version = $3 - 1
			RETURNING version`,
		del: `UPDATE ` + t + ` SET version = version + 1, type = '', format = 0, data = NULL
			WHERE capability = $1 AND id = $2 AND version = $3 AND data IS NOT NULL
			RETURNING version`,
	}, nil
}

// Table returns the quoted name of the table the store keeps records in.
func (s *Store) Table() string { return s.table }

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, k store.Key) (store.Record, error) {
	if err := s.check(ctx, "load", k); err != nil {
		return store.Record{}, err
	}
	var (
		version, format int64
		typ, data       []byte
	)
	err := s.queryRow(ctx, s.load, []any{k.Capability, []byte(k.ID)}, &version, &typ, &format, &data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Record{}, fmt.Errorf("%w: %q at version 0", store.ErrNotFound, k.String())
	case err != nil:
		return store.Record{}, s.fail(ctx, "load", k, err)
	}
	if err := checkRow(k, version, data != nil); err != nil {
		return store.Record{}, err
	}
	if data == nil {
		return store.Record{Version: uint64(version)}, fmt.Errorf("%w: %q at version %d", store.ErrNotFound, k.String(), version)
	}
	switch {
	case typ == nil:
		return store.Record{}, fmt.Errorf("%w: %q: type is NULL", store.ErrCorrupt, k.String())
	case format < 0 || format > math.MaxUint32:
		return store.Record{}, fmt.Errorf("%w: %q: format %d is not a uint32", store.ErrCorrupt, k.String(), format)
	case len(typ) > store.MaxTypeLen:
		return store.Record{}, fmt.Errorf("%w: %q: type name of %d bytes, limit %d", store.ErrCorrupt, k.String(), len(typ), store.MaxTypeLen)
	case len(data) > store.MaxDataLen:
		return store.Record{}, fmt.Errorf("%w: %q: data of %d bytes, limit %d", store.ErrCorrupt, k.String(), len(data), store.MaxDataLen)
	}
	return store.Record{Version: uint64(version), Type: string(typ), Format: uint32(format), Data: data}, nil
}

// checkRow returns an ErrCorrupt error if a stored version cannot be one
// this store wrote: every row is at version 1 or more.
func checkRow(k store.Key, version int64, live bool) error {
	if version < 1 {
		state := "a deleted"
		if live {
			state = "a held"
		}
		return fmt.Errorf("%w: %q: %s record at version %d", store.ErrCorrupt, k.String(), state, version)
	}
	return nil
}

// Save implements store.Store. It is one statement: an INSERT for version
// 1, an UPDATE of the row at rec.Version - 1 for any later one. If the
// statement writes nothing, Save reads the stored version to report it;
// if that read finds the very version the write needed (another writer
// moved the key there in between), it tries the write again, so the
// StaleError never names a stored version that would have been accepted.
func (s *Store) Save(ctx context.Context, k store.Key, rec store.Record) error {
	if err := s.check(ctx, "save", k); err != nil {
		return err
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("store/postgres: save %q: %w", k.String(), err)
	}
	id, typ, data := []byte(k.ID), nonNil([]byte(rec.Type)), nonNil(rec.Data)
	v := rec.Version
	for range 3 {
		var err error
		var got int64
		switch {
		case v == 1:
			err = s.queryRow(ctx, s.insert, []any{k.Capability, id, typ, int64(rec.Format), data}, &got)
		case v >= 2 && v <= math.MaxInt64:
			err = s.queryRow(ctx, s.update, []any{k.Capability, id, int64(v), typ, int64(rec.Format), data}, &got)
		default: // 0, or past what the column holds: never the next version
			err = pgx.ErrNoRows
		}
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return s.fail(ctx, "save", k, err)
		}
		stored, _, err := s.version(ctx, "save", k)
		if err != nil {
			return err
		}
		switch {
		case stored+1 != v:
			return &store.StaleError{Op: "save", Key: k, Stored: stored, Offered: v}
		case v > math.MaxInt64:
			return fmt.Errorf("%w: save %q: version %d is the last the store holds", store.ErrTooLarge, k.String(), stored)
		}
	}
	return fmt.Errorf("%w: save %q: the stored version goes back and forth", store.ErrCorrupt, k.String())
}

// Delete implements store.Store. It is one UPDATE that turns the row at
// version into a tombstone at version + 1; if that writes nothing, Delete
// reads the key, as Save does, to tell a no-op (no record, at version)
// from a stale delete.
func (s *Store) Delete(ctx context.Context, k store.Key, version uint64) error {
	if err := s.check(ctx, "delete", k); err != nil {
		return err
	}
	id := []byte(k.ID)
	for range 3 {
		if version >= 1 && version < math.MaxInt64 {
			var got int64
			err := s.queryRow(ctx, s.del, []any{k.Capability, id, int64(version)}, &got)
			switch {
			case err == nil:
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return s.fail(ctx, "delete", k, err)
			}
		}
		stored, live, err := s.version(ctx, "delete", k)
		if err != nil {
			return err
		}
		switch {
		case stored != version:
			return &store.StaleError{Op: "delete", Key: k, Stored: stored, Offered: version}
		case !live:
			return nil
		case version == math.MaxInt64:
			return fmt.Errorf("%w: delete %q: version %d is the last the store holds", store.ErrTooLarge, k.String(), stored)
		}
		// A Save made the key live at version after the UPDATE looked:
		// delete it now.
	}
	return fmt.Errorf("%w: delete %q: the stored version goes back and forth", store.ErrCorrupt, k.String())
}

// version returns k's stored version and whether it holds a record.
func (s *Store) version(ctx context.Context, op string, k store.Key) (uint64, bool, error) {
	var v int64
	var live bool
	err := s.queryRow(ctx, s.current, []any{k.Capability, []byte(k.ID)}, &v, &live)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, s.fail(ctx, op, k, err)
	}
	if err := checkRow(k, v, live); err != nil {
		return 0, false, err
	}
	return uint64(v), live, nil
}

// Close implements store.Store. It waits for the operations in flight,
// then closes every connection of the pool.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: close", store.ErrClosed)
	}
	s.pool.Close()
	return nil
}

// check returns the error of an operation that must not start: the store
// is closed, ctx has ended, or k is not valid, in that order.
func (s *Store) check(ctx context.Context, op string, k store.Key) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %s %q", store.ErrClosed, op, k.String())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/postgres: %s %q: %w", op, k.String(), err)
	}
	return k.Validate()
}

// queryRow runs a statement that returns at most one row and scans it. A
// statement that failed before any of it reached the server (a pooled
// connection found dead as it was used) is tried once more on another
// connection: it cannot have been done.
func (s *Store) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	err := s.pool.QueryRow(ctx, sql, args...).Scan(dest...)
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil && !s.closed.Load() {
		err = s.pool.QueryRow(ctx, sql, args...).Scan(dest...)
	}
	return err
}

// nonNil returns b, or an empty slice for nil: a NULL data column marks a
// deleted key, so empty data is stored as ”, never NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
