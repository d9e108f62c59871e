package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
	"github.com/meshrun/mesh/store/storetest"
)

// The store passes the conformance suite, on a database file of its own
// for every case.
func TestConformance(t *testing.T) {
	for _, sync := range []sqlite.Sync{sqlite.SyncFull, sqlite.SyncNormal} {
		t.Run(sync.String(), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s, err := sqlite.Open(filepath.Join(t.TempDir(), "state.db"), sqlite.WithSync(sync))
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}
