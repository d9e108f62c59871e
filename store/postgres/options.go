package postgres

import (
	"fmt"
	"time"
)

// DefaultTable is the table a Store keeps its records in unless the
// Table option names another.
const DefaultTable = "mesh_state"

// DefaultConnectTimeout bounds each attempt to connect to the server when
// the URL sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// CancelWait is how long an operation whose ctx ended mid-statement waits
// for the server to cancel the statement (or finish it) before it drops
// the connection. Within it, the outcome of the write is settled when the
// operation returns, so a reload tells it; past it (a server that cannot
// be reached), the statement may still finish on the server later, and
// only the versions keep it from overwriting a newer write.
const CancelWait = time.Second

// Option configures Open.
type Option interface {
	apply(*options)
}

type options struct {
	table    string
	maxConns int32
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// Table names the table of records: 1 to 63 bytes of lower-case ASCII
// letters, digits and '_', not starting with a digit. If not given,
// DefaultTable. The table is looked up, and created, in the first schema
// of the connection's search_path (set it in the URL, e.g.
// ?search_path=mesh, to use another schema). Stores of separate clusters
// sharing one database use separate tables or schemas.
func Table(name string) Option {
	return optionFunc(func(o *options) { o.table = name })
}

// MaxConns bounds the connections of the Store's pool, over the URL's
// pool_max_conns. If zero or not given: pool_max_conns if the URL has it,
// else the greater of 4 and the number of CPUs. Writers that wait for
// commits (each Save is one) gain from more connections than CPUs: the
// server commits the transactions of several connections with one flush.
func MaxConns(n int) Option {
	return optionFunc(func(o *options) { o.maxConns = int32(min(max(n, 0), 1<<20)) })
}

// validTable returns nil if name is a valid table name.
func validTable(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("store/postgres: table name %q of %d bytes, must be 1 to 63", name, len(name))
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b == '_' || b >= '0' && b <= '9' && i > 0) {
			return fmt.Errorf("store/postgres: table name %q has %q at byte %d: use lower-case ASCII letters, digits and '_', not starting with a digit", name, b, i)
		}
	}
	return nil
}
