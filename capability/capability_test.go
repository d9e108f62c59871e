package capability

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"letters", "counter", true},
		{"mixed case", "ChatRoom", true},
		{"digits", "v2", true},
		{"all allowed punctuation", "game.lobby-v1_eu", true},
		{"one byte", "x", true},
		{"only punctuation", "._-", true},
		{"max length", strings.Repeat("a", MaxNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxNameLen+1), false},
		{"space", "chat room", false},
		{"leading space", " chat", false},
		{"slash", "chat/room", false},
		{"colon", "chat:room", false},
		{"unicode", "chät", false},
		{"unicode only", "名前", false},
		{"nul byte", "chat\x00", false},
		{"newline", "chat\n", false},
		{"tab", "\tchat", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.in)
			if tc.ok {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("Validate(%q) = %v, want an error wrapping ErrInvalidName", tc.in, err)
			}
		})
	}
}

func TestRegistryZeroValue(t *testing.T) {
	var r Registry[int]
	if _, ok := r.Get("x"); ok {
		t.Fatal("empty registry has x")
	}
	if n := r.Names(); len(n) != 0 {
		t.Fatalf("Names() = %v, want none", n)
	}
	if got := r.Remove("x"); got != nil {
		t.Fatalf("Remove on an empty registry = %v, want nil", got)
	}
}

func TestRegistryAdd(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]int
		add     map[string]int
		wantErr error
		want    map[string]int // contents afterwards
	}{
		{
			name: "into empty",
			add:  map[string]int{"a": 1, "b": 2},
			want: map[string]int{"a": 1, "b": 2},
		},
		{
			name:   "later keeps earlier",
			before: map[string]int{"a": 1},
			add:    map[string]int{"b": 2, "c": 3},
			want:   map[string]int{"a": 1, "b": 2, "c": 3},
		},
		{
			name:    "one duplicate adds none",
			before:  map[string]int{"a": 1},
			add:     map[string]int{"b": 2, "a": 9, "c": 3},
			wantErr: ErrDuplicate,
			want:    map[string]int{"a": 1},
		},
		{
			name:    "one invalid name adds none",
			before:  map[string]int{"a": 1},
			add:     map[string]int{"b": 2, "bad name": 3, "c": 4},
			wantErr: ErrInvalidName,
			want:    map[string]int{"a": 1},
		},
		{
			name:    "invalid into empty adds none",
			add:     map[string]int{"ok": 1, "": 2},
			wantErr: ErrInvalidName,
			want:    map[string]int{},
		},
		{
			name:    "too long adds none",
			add:     map[string]int{"ok": 1, strings.Repeat("z", MaxNameLen+1): 2},
			wantErr: ErrInvalidName,
			want:    map[string]int{},
		},
		{
			name:   "empty batch",
			before: map[string]int{"a": 1},
			add:    map[string]int{},
			want:   map[string]int{"a": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Registry[int]
			if tc.before != nil {
				if err := r.Add(tc.before); err != nil {
					t.Fatalf("setup Add: %v", err)
				}
			}
			err := r.Add(tc.add)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Add = %v, want nil", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Add = %v, want an error wrapping %v", err, tc.wantErr)
			}
			assertContents(t, &r, tc.want)
		})
	}
}

// assertContents checks Names and Get against want.
func assertContents(t *testing.T, r *Registry[int], want map[string]int) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	if got := r.Names(); !slices.Equal(got, names) {
		t.Fatalf("Names() = %v, want %v", got, names)
	}
	for n, v := range want {
		if got, ok := r.Get(n); !ok || got != v {
			t.Fatalf("Get(%q) = %d, %v, want %d, true", n, got, ok, v)
		}
	}
}

func TestRegistryAddCopiesInput(t *testing.T) {
	var r Registry[int]
	in := map[string]int{"a": 1}
	if err := r.Add(in); err != nil {
		t.Fatal(err)
	}
	in["a"] = 2
	in["b"] = 3
	assertContents(t, &r, map[string]int{"a": 1})
}

func TestRegistryRemove(t *testing.T) {
	tests := []struct {
		name    string
		remove  []string
		removed []string
		left    map[string]int
	}{
		{"one", []string{"b"}, []string{"b"}, map[string]int{"a": 1, "c": 3}},
		{"several in call order", []string{"c", "a"}, []string{"c", "a"}, map[string]int{"b": 2}},
		{"unknown ignored", []string{"x", "b", "y"}, []string{"b"}, map[string]int{"a": 1, "c": 3}},
		{"only unknown", []string{"x"}, nil, map[string]int{"a": 1, "b": 2, "c": 3}},
		{"twice in one call", []string{"a", "a"}, []string{"a"}, map[string]int{"b": 2, "c": 3}},
		{"all", []string{"a", "b", "c"}, []string{"a", "b", "c"}, map[string]int{}},
		{"none", nil, nil, map[string]int{"a": 1, "b": 2, "c": 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Registry[int]
			if err := r.Add(map[string]int{"a": 1, "b": 2, "c": 3}); err != nil {
				t.Fatal(err)
			}
			if got := r.Remove(tc.remove...); !slices.Equal(got, tc.removed) {
				t.Fatalf("Remove(%v) = %v, want %v", tc.remove, got, tc.removed)
			}
			assertContents(t, &r, tc.left)
			for _, n := range tc.removed {
				if _, ok := r.Get(n); ok {
					t.Fatalf("Get(%q) finds a removed name", n)
				}
			}
		})
	}
}

func TestRegistryReAddAfterRemove(t *testing.T) {
	var r Registry[int]
	if err := r.Add(map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(map[string]int{"a": 2}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Add of a = %v, want ErrDuplicate", err)
	}
	r.Remove("a")
	if err := r.Add(map[string]int{"a": 3}); err != nil {
		t.Fatalf("Add after Remove = %v", err)
	}
	assertContents(t, &r, map[string]int{"a": 3})
}

// TestRegistryConcurrent runs readers against writers; run it with -race.
// Each writer owns its own names, so the final contents are known, and every
// value a reader sees must be one a writer stored under that name.
func TestRegistryConcurrent(t *testing.T) {
	var r Registry[string]
	if err := r.Add(map[string]string{"fixed": "fixed"}); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 4, 200
	stop := make(chan struct{})
	var readers sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v, ok := r.Get("fixed"); !ok || v != "fixed" {
					errs <- fmt.Errorf("Get(fixed) = %q, %v while others were written", v, ok)
					return
				}
				for _, n := range r.Names() {
					if v, ok := r.Get(n); ok && v != n {
						errs <- fmt.Errorf("Get(%q) = %q", n, v)
						return
					}
				}
			}
		}()
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range rounds {
				n1, n2 := fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i)
				if err := r.Add(map[string]string{n1: n1, n2: n2}); err != nil {
					errs <- fmt.Errorf("Add: %v", err)
					return
				}
				if i%2 == 0 {
					if got := r.Remove(n1, n2); len(got) != 2 {
						errs <- fmt.Errorf("Remove(%s, %s) = %v", n1, n2, got)
						return
					}
				}
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Odd rounds stayed: 2 names per round per writer, plus "fixed".
	if got, want := len(r.Names()), writers*rounds/2*2+1; got != want {
		t.Fatalf("%d names at the end, want %d", got, want)
	}
}
