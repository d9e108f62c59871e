package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// createTable is the schema, %s the quoted table name. One row per key
// ever written: data is NULL for a deleted key (a tombstone that keeps its
// version, with type ” and format 0). capability holds ASCII only, and
// compares byte for byte under "C"; id is bytea because an ID may hold
// NUL, which text refuses; type is bytea because the store does not
// interpret it and it need not be UTF-8.
const createTable = `CREATE TABLE IF NOT EXISTS %s (
	capability text COLLATE "C" NOT NULL,
	id         bytea  NOT NULL,
	version    bigint NOT NULL,
	type       bytea  NOT NULL,
	format     bigint NOT NULL,
	data       bytea,
	PRIMARY KEY (capability, id)
)`

// columns are the columns the Store reads and writes, with their types as
// format_type names them.
var columns = map[string]string{
	"capability": "text",
	"id":         "bytea",
	"version":    "bigint",
	"type":       "bytea",
	"format":     "bigint",
	"data":       "bytea",
}

// ensureSchema creates the table if it does not exist, and checks that
// the one found has the columns and the primary key the statements need.
// It runs in one transaction under an advisory lock, so that nodes
// starting together do not race on CREATE TABLE (PostgreSQL can fail one
// of two concurrent CREATE TABLE IF NOT EXISTS with a unique violation).
func ensureSchema(ctx context.Context, pool *pgxpool.Pool, table string) error {
	quoted := pgx.Identifier{table}.Sanitize()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	h := fnv.New64a()
	h.Write([]byte("mesh store/postgres " + table))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
		return err
	}
	// CREATE TABLE IF NOT EXISTS needs the CREATE privilege on the
	// schema even when the table exists: look first, so that a role
	// allowed only to read and write a table made for it can open it.
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", quoted).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.Exec(ctx, fmt.Sprintf(createTable, quoted)); err != nil {
			return err
		}
	}

	rows, err := tx.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod)
		FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, quoted)
	if err != nil {
		return err
	}
	found := make(map[string]string)
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return err
		}
		found[name] = typ
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var wrong []string
	for _, name := range slices.Sorted(maps.Keys(columns)) {
		switch got, ok := found[name]; {
		case !ok:
			wrong = append(wrong, fmt.Sprintf("no column %s", name))
		case got != columns[name]:
			wrong = append(wrong, fmt.Sprintf("column %s is %s, want %s", name, got, columns[name]))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%w: table %s: %s", ErrSchema, quoted, strings.Join(wrong, "; "))
	}

	// ON CONFLICT (capability, id) needs a unique index on exactly those
	// columns, not partial.
	var keyed bool
	err = tx.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_index i
		WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indnkeyatts = 2
		AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
			FROM unnest(i.indkey::int2[]) AS k(n)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) = ARRAY['capability', 'id'])`,
		quoted).Scan(&keyed)
	if err != nil {
		return err
	}
	if !keyed {
		return fmt.Errorf("%w: table %s has no unique key on (capability, id)", ErrSchema, quoted)
	}
	return tx.Commit(ctx)
}
