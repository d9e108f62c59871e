package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/meshrun/mesh/store"
)

// Group commit. Every write of a Store goes to one goroutine, the
// committer, which takes all the writes waiting (up to maxBatch of them
// and maxBatchBytes of data) and makes them in one transaction: one lock
// of the database and, with SyncFull, one fsync for all of them. Each
// write is still checked against its key's version on its own, in the
// order the writes arrived, so a batch gives every write the outcome it
// would have had alone, one after another. While one transaction commits,
// the next writes queue up, so a single writer waits for nothing and many
// writers share commits; no write waits on a timer.
//
// Measured on 2 cores shared with other work, ext4, 1 KiB records, 64
// goroutines saving keys of their own (BenchmarkSave, -benchtime 5000x
// and 10000x, several runs; fsync times very noisy): with SyncFull
// 18-69k saves/s grouped against 1.6-21k with one commit each (the median
// run 5x), since the fsync is shared; with SyncNormal 61-112k against
// 31-65k (1.2-2.2x; one run on a loaded machine 0.9x). One goroutine
// alone gets about the same either way (3-16k/s SyncFull, 35-67k/s
// SyncNormal): a lone write never waits for company.

// maxBatch bounds the writes of one transaction, so that one commit does
// not keep the lock from other processes for long. A Store takes its
// value when it opens (tests change it to compare with no grouping).
var maxBatch = 256

// maxBatchBytes bounds the data of one transaction; a single write over
// it makes a transaction of its own.
const maxBatchBytes = 8 << 20

// opsQueue is how many writes may wait for the committer before a
// writer blocks.
const opsQueue = 1024

// op is one write waiting for the committer.
type op struct {
	ctx  context.Context
	key  store.Key
	del  bool
	rec  store.Record // for a Delete, only Version: the version deleted
	done chan error   // gets the outcome; buffered, so never blocks the committer
}

func (o *op) name() string {
	if o.del {
		return "delete"
	}
	return "save"
}

// commitLoop is the committer. It returns when Close has closed stop,
// after the writes still queued (of callers whose contexts ended) are
// made.
func (s *Store) commitLoop() {
	defer close(s.done)
	var next *op // taken from ops but left for the next batch
	limit := s.maxBatch
	batch := make([]*op, 0, limit)
	for {
		if next == nil {
			select {
			case next = <-s.ops:
			case <-s.stop:
				for {
					select {
					case o := <-s.ops:
						s.commit([]*op{o})
					default:
						return
					}
				}
			}
		}
		batch = append(batch[:0], next)
		bytes := len(next.rec.Data)
		next = nil
	fill:
		for len(batch) < limit {
			select {
			case o := <-s.ops:
				if bytes+len(o.rec.Data) > maxBatchBytes {
					next = o
					break fill
				}
				bytes += len(o.rec.Data)
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch) // let the records go
	}
}

// commit makes the writes of batch in one transaction and gives each its
// outcome. A write whose caller's context has ended is not made. If the
// transaction fails, every write in it gets the error; if a statement
// fails, the transaction is rolled back and each write is made again in
// a transaction of its own, so that the failure goes to the write that
// caused it.
func (s *Store) commit(batch []*op) {
	live := batch[:0:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.done <- fmt.Errorf("sqlite: %s %q: %w", o.name(), o.key.String(), err)
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	// The transaction serves many callers: no one's context may end it.
	// Its waits are bounded by the busy timeout.
	ctx := context.Background()
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		for _, o := range live {
			o.done <- s.wrap(o.name(), o.key.String(), err)
		}
		return
	}
	outcomes := make([]error, len(live))
	for i, o := range live {
		outcome, err := s.apply(ctx, tx, o)
		if err != nil {
			_ = tx.Rollback()
			if len(live) == 1 {
				o.done <- s.wrap(o.name(), o.key.String(), err)
				return
			}
			for _, o := range live {
				s.commit([]*op{o})
			}
			return
		}
		outcomes[i] = outcome
	}
	if err := tx.Commit(); err != nil {
		for _, o := range live {
			o.done <- s.wrap(o.name(), o.key.String(), err)
		}
		return
	}
	for i, o := range live {
		o.done <- outcomes[i]
	}
}

// apply makes one write inside tx. It returns the write's outcome (nil, a
// *store.StaleError, or an error the stored row causes), or an error of
// the database, which ends the transaction.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, o *op) (outcome, err error) {
	k := o.key
	c, id := []byte(k.Capability), []byte(k.ID)
	v := o.rec.Version
	var res sql.Result
	switch {
	case o.del && v >= 1 && v < math.MaxInt64:
		res, err = tx.StmtContext(ctx, s.del).ExecContext(ctx, c, id, int64(v))
	case !o.del && v == 1:
		res, err = tx.StmtContext(ctx, s.insert).ExecContext(ctx, c, id, []byte(o.rec.Type), int64(o.rec.Format), o.rec.Data)
	case !o.del && v >= 2 && v <= math.MaxInt64:
		res, err = tx.StmtContext(ctx, s.update).ExecContext(ctx, c, id, int64(v), []byte(o.rec.Type), int64(o.rec.Format), o.rec.Data)
	}
	if err != nil {
		return nil, err
	}
	if res != nil {
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		if n == 1 {
			return nil, nil
		}
	}

	// Not written: the stored version says why.
	var version, live any
	var stored uint64
	var isLive bool
	err = tx.StmtContext(ctx, s.version).QueryRowContext(ctx, c, id).Scan(&version, &live)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		if stored, isLive, err = decodeVersion(k, version, live); err != nil {
			return err, nil
		}
	}
	switch {
	case o.del && stored == v && !isLive:
		return nil, nil // nothing to delete, at the version named
	case o.del && stored == v || !o.del && stored == math.MaxInt64 && v == stored+1:
		return errVersionSpace(o), nil
	}
	return &store.StaleError{Op: o.name(), Key: k, Stored: stored, Offered: v}, nil
}
