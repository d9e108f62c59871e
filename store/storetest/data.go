package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/meshrun/mesh/store"
)

// randomBytes returns n bytes of a fixed pseudo-random sequence.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		u := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(u >> (8 * j))
		}
	}
	return b
}

// Loads return what was saved, byte for byte, for every kind of data and
// every Type and Format.
func testRoundTrip(t *testing.T, s store.Store) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	for i, rec := range []store.Record{
		{},
		{Data: []byte{}},
		{Data: []byte{0}},
		{Data: every},
		{Data: []byte("\xff\xfe not UTF-8 \x00 \r\n")},
		{Data: randomBytes(1<<20, 1)},
		{Data: randomBytes(1<<20+3, 2)},
		{Type: "google.protobuf.Int64Value", Format: 1, Data: []byte{0x08, 0x05}},
		{Type: "a", Format: math.MaxUint32},
		{Type: "x.y.Z", Format: 1 << 31},
		{Type: strings.Repeat("t", store.MaxTypeLen), Format: 3},
		{Type: "mesh.test.v1.Ünïcode", Format: 7, Data: []byte("ü")},
	} {
		k := key(fmt.Sprint("round-trip-", i))
		rec.Version = 1
		save(t, s, k, rec)
		wantRecord(t, s, k, rec)
	}
}

// A Save replaces every field: nothing of the previous record shows
// through a later one with empty fields.
func testSaveReplacesWholeRecord(t *testing.T, s store.Store) {
	k := key("replace")
	recs := []store.Record{
		{Version: 1, Type: "test.v1.Big", Format: 9, Data: randomBytes(4096, 3)},
		{Version: 2},
		{Version: 3, Type: "test.v1.Small", Format: 1, Data: []byte("short")},
		{Version: 4, Type: "test.v1.Small", Data: []byte("sh")},
		{Version: 5, Format: 4, Data: []byte{}},
	}
	for _, rec := range recs {
		save(t, s, k, rec)
		wantRecord(t, s, k, rec)
	}
}

// The store keeps no reference to a slice it was given or returned: a
// caller changing one changes nothing stored.
func testDataNotAliased(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key("alias")
	orig := []byte("original state")
	in := bytes.Clone(orig)
	save(t, s, k, store.Record{Version: 1, Data: in})
	for i := range in {
		in[i] = 'X'
	}
	want := store.Record{Version: 1, Data: orig}
	wantRecord(t, s, k, want)

	a, err := s.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Data {
		a.Data[i] = 'Y'
	}
	if !bytes.Equal(b.Data, orig) {
		t.Fatalf("changing the Data of one Load changed another's: %q", b.Data)
	}
	wantRecord(t, s, k, want)

	// Nor may a refused Save keep what it was given.
	refused := []byte("refused state")
	if err := s.Save(ctx, k, store.Record{Version: 5, Data: refused}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("Save at a gap: %v; want ErrStale", err)
	}
	copy(refused, "changed")
	wantRecord(t, s, k, want)
}

// Data over store.MaxDataLen and Type over store.MaxTypeLen are refused
// with ErrTooLarge and change nothing; both bounds themselves are accepted.
func testTooLarge(t *testing.T, s store.Store) {
	ctx := t.Context()
	big := bytes.Repeat(randomBytes(4096, 4), store.MaxDataLen/4096+1)[:store.MaxDataLen+1]
	longType := strings.Repeat("t", store.MaxTypeLen+1)

	k := key("too-large")
	for _, rec := range []store.Record{
		{Version: 1, Data: big},
		{Version: 1, Type: longType},
	} {
		if err := s.Save(ctx, k, rec); !errors.Is(err, store.ErrTooLarge) {
			t.Fatalf("Save of %s: %v; want ErrTooLarge", show(rec), err)
		}
		wantMissing(t, s, k, 0)
	}
	held := store.Record{Version: 1, Data: []byte("held")}
	save(t, s, k, held)
	for _, rec := range []store.Record{
		{Version: 2, Data: big},
		{Version: 2, Type: longType},
	} {
		if err := s.Save(ctx, k, rec); !errors.Is(err, store.ErrTooLarge) {
			t.Fatalf("Save of %s: %v; want ErrTooLarge", show(rec), err)
		}
		wantRecord(t, s, k, held)
	}

	atBound := store.Record{Version: 2, Type: longType[1:], Data: big[1:]}
	save(t, s, k, atBound)
	wantRecord(t, s, k, atBound)
}
