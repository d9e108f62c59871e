package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/meshrun/mesh/store"
)

// Run runs every test of the suite as a subtest of t. For each one, open
// returns a new, empty store; Run closes it when the subtest ends (open
// may register cleanups of its own, such as removing files, with
// t.Cleanup: they run after that Close).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
			})
			c.run(t, s)
		})
	}
}

// cases is the suite, in the order it runs.
var cases = []struct {
	name string
	run  func(t *testing.T, s store.Store)
}{
	{"LoadMissing", testLoadMissing},
	{"FirstSaveIsVersion1", testFirstSaveIsVersion1},
	{"VersionsCountWrites", testVersionsCountWrites},
	{"GapsAndRepeatsRefused", testGapsAndRepeatsRefused},
	{"ConcurrentSavesOneWins", testConcurrentSavesOneWins},
	{"RoundTrip", testRoundTrip},
	{"SaveReplacesWholeRecord", testSaveReplacesWholeRecord},
	{"DataNotAliased", testDataNotAliased},
	{"TooLarge", testTooLarge},
	{"KeysDistinct", testKeysDistinct},
	{"CapabilitiesIsolated", testCapabilitiesIsolated},
	{"InvalidKeys", testInvalidKeys},
	{"Delete", testDelete},
	{"DeleteNoResurrection", testDeleteNoResurrection},
	{"EndedContext", testEndedContext},
	{"Close", testClose},
	{"CloseConcurrent", testCloseConcurrent},
	{"ManyKeys", testManyKeys},
	{"MixedLoad", testMixedLoad},
}

// key returns a valid key of the capability "counter".
func key(id string) store.Key { return store.Key{Capability: "counter", ID: id} }

// save saves rec and fails the test if the store refuses it.
func save(t *testing.T, s store.Store, k store.Key, rec store.Record) {
	t.Helper()
	if err := s.Save(t.Context(), k, rec); err != nil {
		t.Fatalf("Save(%q, %s): %v", k.String(), show(rec), err)
	}
}

// wantRecord fails the test unless k holds exactly want.
func wantRecord(t *testing.T, s store.Store, k store.Key, want store.Record) {
	t.Helper()
	got, err := s.Load(t.Context(), k)
	if err != nil {
		t.Fatalf("Load(%q): %v; want %s", k.String(), err, show(want))
	}
	if !same(got, want) {
		t.Fatalf("Load(%q) = %s; want %s", k.String(), show(got), show(want))
	}
}

// wantMissing fails the test unless k holds no record and is at version.
func wantMissing(t *testing.T, s store.Store, k store.Key, version uint64) {
	t.Helper()
	got, err := s.Load(t.Context(), k)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load(%q) = %s, %v; want ErrNotFound", k.String(), show(got), err)
	}
	if !same(got, store.Record{Version: version}) {
		t.Fatalf("Load(%q) with ErrNotFound returned %s; want only Version %d", k.String(), show(got), version)
	}
}

// wantStale fails the test unless err is a *store.StaleError of op on k
// with the given versions.
func wantStale(t *testing.T, err error, op string, k store.Key, stored, offered uint64) {
	t.Helper()
	if msg := checkStale(err, op, k, stored, offered); msg != "" {
		t.Fatal(msg)
	}
}

// checkStale returns "" if err is a *store.StaleError of op on k with the
// given versions, else what is wrong. It is wantStale for goroutines,
// which must not call t.Fatal.
func checkStale(err error, op string, k store.Key, stored, offered uint64) string {
	var se *store.StaleError
	switch {
	case !errors.Is(err, store.ErrStale):
		return fmt.Sprintf("%s(%q) offering %d = %v; want ErrStale", op, k.String(), offered, err)
	case !errors.As(err, &se):
		return fmt.Sprintf("%s(%q) = %v: wraps ErrStale but is no *store.StaleError", op, k.String(), err)
	case se.Op != op || se.Key != k || se.Stored != stored || se.Offered != offered:
		return fmt.Sprintf("%s(%q) = %+v; want Op %q, Key %q, Stored %d, Offered %d", op, k.String(), *se, op, k.String(), stored, offered)
	}
	return ""
}

// same reports whether a and b are the same record. Empty Data equals nil
// Data: a store need not tell them apart.
func same(a, b store.Record) bool {
	return a.Version == b.Version && a.Type == b.Type && a.Format == b.Format && bytes.Equal(a.Data, b.Data)
}

// show describes a record for a failure message, without printing a
// megabyte of data.
func show(r store.Record) string {
	d := fmt.Sprintf("%q", r.Data)
	if len(r.Data) > 32 {
		d = fmt.Sprintf("%q... (%d bytes)", r.Data[:32], len(r.Data))
	}
	return fmt.Sprintf("{Version %d, Type %q, Format %d, Data %s}", r.Version, r.Type, r.Format, d)
}
