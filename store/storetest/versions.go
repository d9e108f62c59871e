package storetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/meshrun/mesh/store"
)

// A key never written holds nothing, at version 0, and writing another key
// does not change that.
func testLoadMissing(t *testing.T, s store.Store) {
	k := key("never")
	wantMissing(t, s, k, 0)
	save(t, s, key("other"), store.Record{Version: 1, Data: []byte("x")})
	wantMissing(t, s, k, 0)
	wantMissing(t, s, key("Never"), 0)
}

// The first write of a key is version 1; any other version is refused and
// leaves the key unwritten.
func testFirstSaveIsVersion1(t *testing.T, s store.Store) {
	k := key("first")
	for _, v := range []uint64{0, 2, 3, math.MaxUint64} {
		err := s.Save(t.Context(), k, store.Record{Version: v, Data: []byte("wrong")})
		wantStale(t, err, "save", k, 0, v)
		wantMissing(t, s, k, 0)
	}
	rec := store.Record{Version: 1, Type: "test.v1.State", Format: 1, Data: []byte("first")}
	save(t, s, k, rec)
	wantRecord(t, s, k, rec)
}

// Each write moves the version by one, and each Load returns the last
// record written.
func testVersionsCountWrites(t *testing.T, s store.Store) {
	k := key("count")
	for v := uint64(1); v <= 20; v++ {
		rec := store.Record{Version: v, Type: fmt.Sprintf("test.v%d.State", v), Format: uint32(v * 7), Data: []byte(fmt.Sprint("state ", v))}
		save(t, s, k, rec)
		wantRecord(t, s, k, rec)
	}
}

// A Save that repeats the stored version, goes back, or skips ahead is
// refused with the stored and offered versions, and changes nothing.
func testGapsAndRepeatsRefused(t *testing.T, s store.Store) {
	k := key("gaps")
	var last store.Record
	for v := uint64(1); v <= 3; v++ {
		last = store.Record{Version: v, Type: "test.v1.State", Format: 2, Data: []byte(fmt.Sprint("v", v))}
		save(t, s, k, last)
	}
	for _, v := range []uint64{3, 2, 1, 0, 5, 100, math.MaxUint64} {
		err := s.Save(t.Context(), k, store.Record{Version: v, Type: "test.v9.Other", Format: 9, Data: []byte("refused")})
		wantStale(t, err, "save", k, 3, v)
		wantRecord(t, s, k, last)
	}
	next := store.Record{Version: 4, Data: []byte("v4")}
	save(t, s, k, next)
	wantRecord(t, s, k, next)
}

// Delete removes a record only at its version; deleting an absent key at
// its version does nothing; a deletion moves the version one on.
func testDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key("delete")

	// Absent, never written: a no-op at version 0 only.
	if err := s.Delete(ctx, k, 0); err != nil {
		t.Fatalf("Delete of an absent key at version 0: %v", err)
	}
	wantMissing(t, s, k, 0)
	wantStale(t, s.Delete(ctx, k, 1), "delete", k, 0, 1)
	wantMissing(t, s, k, 0)
	rec1 := store.Record{Version: 1, Data: []byte("one")}
	save(t, s, k, rec1) // the no-op Delete did not move the version

	// Held at version 2: other versions are refused and change nothing.
	rec2 := store.Record{Version: 2, Type: "test.v1.State", Data: []byte("two")}
	save(t, s, k, rec2)
	for _, v := range []uint64{0, 1, 3, math.MaxUint64} {
		wantStale(t, s.Delete(ctx, k, v), "delete", k, 2, v)
		wantRecord(t, s, k, rec2)
	}

	// At its version: gone, and the key is at version 3.
	if err := s.Delete(ctx, k, 2); err != nil {
		t.Fatalf("Delete at the stored version: %v", err)
	}
	wantMissing(t, s, k, 3)

	// Deleted: a Delete at version 3 is a no-op; the version deleted is stale.
	if err := s.Delete(ctx, k, 3); err != nil {
		t.Fatalf("Delete of a deleted key at its version: %v", err)
	}
	wantMissing(t, s, k, 3)
	wantStale(t, s.Delete(ctx, k, 2), "delete", k, 3, 2)
	wantStale(t, s.Delete(ctx, k, 0), "delete", k, 3, 0)
	wantMissing(t, s, k, 3)

	// The next write follows the deletion's version, not 1.
	wantStale(t, s.Save(ctx, k, store.Record{Version: 1, Data: []byte("fresh")}), "save", k, 3, 1)
	rec4 := store.Record{Version: 4, Type: "test.v2.State", Format: 2, Data: []byte("after")}
	save(t, s, k, rec4)
	wantRecord(t, s, k, rec4)
	if err := s.Delete(ctx, k, 4); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	wantMissing(t, s, k, 5)
}

// A writer that saw a key at any version before it was deleted can never
// write it again: not with the next version it would offer, not with 1,
// not by deleting it.
func testDeleteNoResurrection(t *testing.T, s store.Store) {
	ctx := t.Context()
	refused := func(k store.Key, seen uint64, stored uint64) {
		t.Helper()
		for _, v := range []uint64{seen + 1, 1} {
			err := s.Save(ctx, k, store.Record{Version: v, Data: []byte("resurrected")})
			if err == nil {
				t.Fatalf("a writer that saw version %d of %q saved version %d over its deletion", seen, k.String(), v)
			}
			wantStale(t, err, "save", k, stored, v)
		}
		wantStale(t, s.Delete(ctx, k, seen), "delete", k, stored, seen)
	}

	// The stale writer saw the very version that was deleted.
	k := key("same-version")
	save(t, s, k, store.Record{Version: 1, Data: []byte("a")})
	save(t, s, k, store.Record{Version: 2, Data: []byte("b")})
	if err := s.Delete(ctx, k, 2); err != nil {
		t.Fatal(err)
	}
	refused(k, 2, 3)
	wantMissing(t, s, k, 3)

	// It saw an older version.
	k = key("older-version")
	for v := uint64(1); v <= 4; v++ {
		save(t, s, k, store.Record{Version: v, Data: []byte{byte(v)}})
	}
	if err := s.Delete(ctx, k, 4); err != nil {
		t.Fatal(err)
	}
	for seen := uint64(1); seen <= 4; seen++ {
		refused(k, seen, 5)
	}
	wantMissing(t, s, k, 5)

	// It loaded the key before anything was written (version 0).
	k = key("never-seen")
	save(t, s, k, store.Record{Version: 1, Data: []byte("a")})
	if err := s.Delete(ctx, k, 1); err != nil {
		t.Fatal(err)
	}
	refused(k, 0, 2)
	wantMissing(t, s, k, 2)

	// A new activation wrote after the deletion: still fenced.
	k = key("rewritten")
	save(t, s, k, store.Record{Version: 1, Data: []byte("old")})
	if err := s.Delete(ctx, k, 1); err != nil {
		t.Fatal(err)
	}
	fresh := store.Record{Version: 3, Data: []byte("new")}
	save(t, s, k, fresh)
	for _, v := range []uint64{1, 2, 3} {
		wantStale(t, s.Save(ctx, k, store.Record{Version: v, Data: []byte("resurrected")}), "save", k, 3, v)
	}
	wantStale(t, s.Delete(ctx, k, 1), "delete", k, 3, 1)
	wantRecord(t, s, k, fresh)

	// Deleted twice, saved in between: the first writer is still refused.
	if err := s.Delete(ctx, k, 3); err != nil {
		t.Fatal(err)
	}
	refused(k, 1, 4)
	refused(k, 3, 4)
	if err := s.Delete(ctx, k, 4); err != nil {
		t.Fatalf("Delete of a deleted key at its version: %v", err)
	}
	wantMissing(t, s, k, 4)
}
