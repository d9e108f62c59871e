// Package postgres is a store.Store kept in PostgreSQL, for clusters
// whose nodes run on several machines: every node opens the same
// database, and the versions of the store.Store contract fence a stale
// activation's writes across all of them.
//
// # Usage
//
//	s, err := postgres.Open(ctx, "postgres://mesh:secret@db.example/mesh?sslmode=verify-full")
//	if err != nil {
//		return err // unreachable, refused, or a table of another schema
//	}
//	defer s.Close()
//	cfg.Store = s
//
// Open takes a PostgreSQL URL or key=value string as libpq does (host,
// port, user, password, dbname, sslmode, connect_timeout,
// pool_max_conns, search_path and the other settings of pgx's pool). It
// connects before it returns, so a node whose database is unreachable
// does not start: the error wraps store.ErrUnavailable, or ctx.Err() if
// ctx ended first. The Store prepares its statements on each connection;
// behind a pooler in transaction mode (PgBouncer), add
// default_query_exec_mode=exec to the URL.
//
// # Schema
//
// Open creates its table if it does not exist (CREATE TABLE IF NOT
// EXISTS, under an advisory lock so that nodes starting together do not
// race), in the first schema of the connection's search_path; Table names
// another table. A table that exists with other columns or without the
// key is refused with ErrSchema and left as it is. The table is:
//
//	CREATE TABLE mesh_state (
//		capability text COLLATE "C" NOT NULL,
//		id         bytea  NOT NULL,  -- an ID may hold NUL, which text refuses
//		version    bigint NOT NULL,
//		type       bytea  NOT NULL,  -- '' for a deleted key
//		format     bigint NOT NULL,  -- 0 for a deleted key
//		data       bytea,            -- NULL for a deleted key
//		PRIMARY KEY (capability, id)
//	)
//
// A key has one row from its first write on; a Delete keeps the row, with
// no data, as the record of its version (store's "Deletion").
//
// The role of the URL needs SELECT, INSERT and UPDATE on the table, and
// CREATE on the schema only if Open is to create the table: a database
// administrator may create it beforehand with the statement above.
//
// # Guarantees
//
// Every write is one statement in its own transaction, so it is atomic
// and, with the server's default synchronous_commit, durable once Save or
// Delete returns nil. A Save of version 1 is an INSERT that does nothing
// if the key has a row; a Save of version v > 1 is an UPDATE of the row at
// version v-1; a Delete of version v is an UPDATE of the live row at
// version v to a tombstone at v+1. The server's row lock makes each
// linearizable: of writers racing for one version, one updates the row
// and the others find the WHERE clause false. A write that changed
// nothing reads the stored version to report it in a *store.StaleError;
// should that read find the very version the write needed (another writer
// got there in between), the write is tried again, so a StaleError always
// names a version at which the write was rightly refused.
//
// Load checks what it reads: a version below 1, a format outside uint32,
// a NULL or over-long type, over-long data, or a column of another type
// (a row or table edited by hand) is store.ErrCorrupt, never a panic or a
// wrong record.
//
// # Losing the server
//
// The pool (pgx's pgxpool) holds up to MaxConns connections. When the
// server stops, restarts or fails over, each operation in flight, and
// each started while it is gone, returns an error wrapping
// store.ErrUnavailable (or ctx.Err() if its ctx ended first); none
// reports a write it did not make, but a write whose connection failed
// after it was sent may have been done: reload to learn. Connections are
// made anew as they are needed: a connection idle for more than a second
// is checked before use, one that failed is dropped, so once the server
// is back the next operations succeed without a restart of the node. A
// statement that failed before any of it was sent is tried once on
// another connection.
//
// A server that hangs without closing the connection (a network that
// drops packets) is noticed only by the ctx of each call, or after the
// operating system's TCP timeouts: give every call a deadline, as mesh
// does. When a ctx ends mid-statement, the Store asks the server to
// cancel the statement and waits for the answer up to CancelWait, so the
// write's outcome is settled when the call returns and a reload shows it.
//
// Server errors that do not mean unavailability (a missing table,
// permissions) are returned wrapped as they are, with the server's
// SQLSTATE in the *pgconn.PgError.
//
// # Concurrency
//
// A Store is safe for concurrent use by any number of goroutines, and any
// number of Stores, in one process or many, may share one table.
package postgres
