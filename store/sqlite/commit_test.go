package sqlite_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/meshrun/mesh/store"
)

// A write that the database refuses fails alone: the others committed in
// the same group are made, and each gets its own outcome. (A trigger
// stands in for a failure of the database on one write.)
func TestGroupCommitFailureStaysWithItsWrite(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	ctx := t.Context()
	if _, err := rawDB(t, path).ExecContext(ctx, `CREATE TRIGGER refuse BEFORE UPDATE ON mesh_records_v1
		WHEN NEW.id = CAST('poisoned' AS BLOB) AND NEW.version = 3 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	const writers, versions = 32, 5
	errs := make([][]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		id := fmt.Sprint("w", w)
		if w == 0 {
			id = "poisoned"
		}
		errs[w] = make([]error, versions)
		wg.Go(func() {
			<-start
			k := store.Key{Capability: "counter", ID: id}
			for v := uint64(1); v <= versions; v++ {
				errs[w][v-1] = s.Save(ctx, k, store.Record{Version: v, Data: []byte(fmt.Sprint(id, v))})
			}
		})
	}
	close(start)
	wg.Wait()
	for w := range writers {
		for v := uint64(1); v <= versions; v++ {
			err := errs[w][v-1]
			switch {
			case w == 0 && v == 3:
				if err == nil || !strings.Contains(err.Error(), "refused by the test") || errors.Is(err, store.ErrStale) {
					t.Errorf("the refused write: %v", err)
				}
			case w == 0 && v > 3:
				wantStale(t, err, 2)
			case err != nil:
				t.Errorf("writer %d, version %d: %v", w, v, err)
			}
		}
	}
	if got := load(t, s, store.Key{Capability: "counter", ID: "poisoned"}); got.Version != 2 {
		t.Errorf("the refused key holds %+v; want version 2", got)
	}
	for w := 1; w < writers; w++ {
		k := store.Key{Capability: "counter", ID: fmt.Sprint("w", w)}
		if got := load(t, s, k); got.Version != versions || string(got.Data) != k.ID+fmt.Sprint(versions) {
			t.Errorf("%q holds %+v", k.String(), got)
		}
	}
}
