package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/meshrun/mesh/store"
)

// distinctKeys are keys a store must keep apart although a careless one
// would not: the same concatenation with the separator moved, prefixes,
// NUL and line ends, case, trailing spaces (SQL padding), Unicode forms,
// and SQL LIKE wildcards.
var distinctKeys = []store.Key{
	{Capability: "a", ID: "bc"}, {Capability: "ab", ID: "c"},
	{Capability: "a", ID: "b.c"}, {Capability: "a.b", ID: "c"},
	{Capability: "a", ID: "b-c"}, {Capability: "a-b", ID: "c"},
	{Capability: "a", ID: "b_c"}, {Capability: "a_b", ID: "c"},
	{Capability: "a", ID: "b/c"}, {Capability: "a", ID: "b"}, {Capability: "a", ID: "b/"},
	{Capability: "a", ID: "x"}, {Capability: "a", ID: "x\x00"}, {Capability: "a", ID: "x\x00y"},
	{Capability: "a", ID: "\x00"}, {Capability: "a", ID: "\x00\x00"},
	{Capability: "a", ID: "x\ny"}, {Capability: "a", ID: "x\r\ny"}, {Capability: "a", ID: "x\n"},
	{Capability: "a", ID: "x "}, {Capability: "a", ID: " x"}, {Capability: "a", ID: "x\t"},
	{Capability: "a", ID: "X"}, {Capability: "A", ID: "x"},
	{Capability: "a", ID: "\u00e9"}, {Capability: "a", ID: "e\u0301"}, {Capability: "a", ID: "\u00c9"},
	{Capability: "a", ID: "\ufeffx"}, {Capability: "a", ID: "🙂"}, {Capability: "a", ID: "日本"},
	{Capability: "a", ID: "%"}, {Capability: "a", ID: "_"}, {Capability: "a", ID: "x%"}, {Capability: "a", ID: "x_"},
	{Capability: "a", ID: "'"}, {Capability: "a", ID: `"`}, {Capability: "a", ID: `\`}, {Capability: "a", ID: "x'); --"},
	{Capability: "a", ID: strings.Repeat("z", store.MaxIDLen)}, {Capability: "a", ID: strings.Repeat("z", store.MaxIDLen-1)},
}

// Keys that differ in any byte of either field hold records of their own.
func testKeysDistinct(t *testing.T, s store.Store) {
	ctx := t.Context()
	rec := func(i int, v uint64) store.Record {
		return store.Record{Version: v, Type: fmt.Sprint("test.key", i), Format: uint32(i), Data: []byte(fmt.Sprint("record of key ", i, " at ", v))}
	}
	// Every key's first Save is version 1: a store that merged two keys
	// refuses the second.
	for i, k := range distinctKeys {
		if err := s.Save(ctx, k, rec(i, 1)); err != nil {
			t.Fatalf("Save of key %d %q: %v (does the store confuse it with another?)", i, k.String(), err)
		}
	}
	for i, k := range distinctKeys {
		wantRecord(t, s, k, rec(i, 1))
	}
	// Writing or deleting one changes no other.
	for i, k := range distinctKeys {
		if i%2 == 0 {
			save(t, s, k, rec(i, 2))
		} else if err := s.Delete(ctx, k, 1); err != nil {
			t.Fatalf("Delete of key %d %q: %v", i, k.String(), err)
		}
	}
	for i, k := range distinctKeys {
		if i%2 == 0 {
			wantRecord(t, s, k, rec(i, 2))
		} else {
			wantMissing(t, s, k, 2)
		}
	}

	// Capability "a/b" with ID "c" would print like capability "a" with ID
	// "b/c"; it is not a valid key, so the two can never meet.
	err := s.Save(ctx, store.Key{Capability: "a/b", ID: "c"}, store.Record{Version: 3, Data: []byte("clobber")})
	if !errors.Is(err, store.ErrInvalidKey) {
		t.Fatalf("Save with capability %q: %v; want ErrInvalidKey", "a/b", err)
	}
	i := 8
	if distinctKeys[i] != (store.Key{Capability: "a", ID: "b/c"}) {
		t.Fatal("distinctKeys has moved: fix the index")
	}
	wantRecord(t, s, distinctKeys[i], rec(i, 2))
}

// One ID under several capabilities is several keys, with versions of
// their own.
func testCapabilitiesIsolated(t *testing.T, s store.Store) {
	ctx := t.Context()
	caps := []string{"counter", "chat", "Counter", "counter.v2", "counter-", "c"}
	for i, c := range caps {
		k := store.Key{Capability: c, ID: "42"}
		for v := uint64(1); v <= uint64(i+1); v++ {
			save(t, s, k, store.Record{Version: v, Type: c, Data: []byte(c)})
		}
	}
	if err := s.Delete(ctx, store.Key{Capability: "chat", ID: "42"}, 2); err != nil {
		t.Fatal(err)
	}
	for i, c := range caps {
		k := store.Key{Capability: c, ID: "42"}
		if c == "chat" {
			wantMissing(t, s, k, 3)
			continue
		}
		wantRecord(t, s, k, store.Record{Version: uint64(i + 1), Type: c, Data: []byte(c)})
	}
}

// Keys outside the bounds are refused by every method with ErrInvalidKey,
// and keys at the bounds are accepted.
func testInvalidKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	invalid := []store.Key{
		{},
		{Capability: "", ID: "x"},
		{Capability: "counter", ID: ""},
		{Capability: strings.Repeat("c", store.MaxCapabilityLen+1), ID: "x"},
		{Capability: "a b", ID: "x"},
		{Capability: "a/b", ID: "x"},
		{Capability: "a:b", ID: "x"},
		{Capability: "a\x00", ID: "x"},
		{Capability: "caf\u00e9", ID: "x"},
		{Capability: " counter", ID: "x"},
		{Capability: "counter", ID: strings.Repeat("z", store.MaxIDLen+1)},
		{Capability: "counter", ID: strings.Repeat("\u00e9", store.MaxIDLen/2) + "z"},
		{Capability: "counter", ID: "\xff"},
		{Capability: "counter", ID: "ok\xe2\x82"},
		{Capability: "counter", ID: "\xed\xa0\x80"}, // a UTF-16 surrogate
	}
	for _, k := range invalid {
		if _, err := s.Load(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Load(%+q): %v; want ErrInvalidKey", k, err)
		}
		if err := s.Save(ctx, k, store.Record{Version: 1}); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Save(%+q): %v; want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k, 0); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Delete(%+q): %v; want ErrInvalidKey", k, err)
		}
		if err := k.Validate(); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Key%+q.Validate(): %v; want ErrInvalidKey", k, err)
		}
	}

	valid := []store.Key{
		{Capability: strings.Repeat("c", store.MaxCapabilityLen), ID: "x"},
		{Capability: "azAZ09._-", ID: "x"},
		{Capability: "-", ID: "x"},
		{Capability: "counter", ID: strings.Repeat("z", store.MaxIDLen)},
		{Capability: "counter", ID: strings.Repeat("\u00e9", store.MaxIDLen/2)},
		{Capability: "counter", ID: "\x00"},
		{Capability: "counter", ID: "\U0010FFFF"},
	}
	for i, k := range valid {
		rec := store.Record{Version: 1, Data: []byte{byte(i)}}
		if err := s.Save(ctx, k, rec); err != nil {
			t.Errorf("Save(%+q): %v", k, err)
			continue
		}
		wantRecord(t, s, k, rec)
		if err := k.Validate(); err != nil {
			t.Errorf("Key%+q.Validate(): %v", k, err)
		}
	}
}

// A few thousand keys over three capabilities each hold their own record
// through saves and deletes.
func testManyKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	const perCap = 1000
	caps := []string{"counter", "chat", "game"}
	type state struct {
		version uint64
		live    bool
	}
	model := make(map[store.Key]state)
	var keys []store.Key
	data := func(k store.Key, v uint64) []byte { return []byte(fmt.Sprint(k.Capability, "|", k.ID, "|", v)) }
	for _, c := range caps {
		for i := range perCap {
			k := store.Key{Capability: c, ID: fmt.Sprint("user-", i)}
			save(t, s, k, store.Record{Version: 1, Data: data(k, 1)})
			model[k] = state{1, true}
			keys = append(keys, k)
		}
	}
	// A third is saved again, a third deleted, a third left.
	for i, k := range keys {
		switch i % 3 {
		case 0:
			save(t, s, k, store.Record{Version: 2, Data: data(k, 2)})
			model[k] = state{2, true}
		case 1:
			if err := s.Delete(ctx, k, 1); err != nil {
				t.Fatalf("Delete(%q): %v", k.String(), err)
			}
			model[k] = state{2, false}
		}
	}
	for k, st := range model {
		if st.live {
			wantRecord(t, s, k, store.Record{Version: st.version, Data: data(k, st.version)})
		} else {
			wantMissing(t, s, k, st.version)
		}
	}
}
