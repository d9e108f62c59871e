package shard

import (
	"fmt"
	"testing"
)

func membersOf(caps map[string][]string) []Member {
	var out []Member
	for name, c := range caps {
		out = append(out, Member{Name: name, Capabilities: c})
	}
	return out
}

// ownedBy returns up to n shards of capability that t places on node.
func ownedBy(t *Table, capability, node string, n int) []uint32 {
	var out []uint32
	for s := range uint32(t.Shards()) {
		if len(out) < n && t.Ring(capability).Owner(s) == node {
			out = append(out, s)
		}
	}
	return out
}

func TestMoves(t *testing.T) {
	const shards = 64
	two := Build(shards, membersOf(map[string][]string{"a": {"chat"}, "b": {"chat"}}), nil)
	three := Build(shards, membersOf(map[string][]string{"a": {"chat"}, "b": {"chat"}, "c": {"chat"}}), two)
	aOnly := Build(shards, membersOf(map[string][]string{"a": {"chat"}}), two)
	none := Build(shards, nil, two)
	heldByA := map[string][]uint32{"chat": ownedBy(two, "chat", "a", shards)}

	tests := []struct {
		name       string
		self       string
		prev, next *Table
		held       map[string][]uint32
		check      func(t *testing.T, out, in []Move)
	}{
		{"nothing changes", "a", two, two, heldByA, func(t *testing.T, out, in []Move) {
			if len(out)+len(in) != 0 {
				t.Fatalf("out %v, in %v; want nothing", out, in)
			}
		}},
		{"a node joins: the holder gives shards to it, the joiner receives them", "a", two, three, heldByA, func(t *testing.T, out, in []Move) {
			if len(out) == 0 || len(in) != 0 {
				t.Fatalf("%d out, %d in; want some out and none in", len(out), len(in))
			}
			for _, m := range out {
				if m.From != "a" || m.To != "c" || three.Ring("chat").Owner(m.Shard) != "c" {
					t.Fatalf("move %+v: a gives only to the joiner what it owns", m)
				}
			}
		}},
		{"the joiner's view", "c", two, three, nil, func(t *testing.T, out, in []Move) {
			if len(out) != 0 || len(in) == 0 {
				t.Fatalf("%d out, %d in; want none out and some in", len(out), len(in))
			}
			for _, m := range in {
				if m.To != "c" || m.From != two.Ring("chat").Owner(m.Shard) {
					t.Fatalf("move %+v does not come from the previous owner", m)
				}
			}
		}},
		{"a node leaves: the survivor receives its shards", "a", two, aOnly, heldByA, func(t *testing.T, out, in []Move) {
			if len(out) != 0 {
				t.Fatalf("out %v; a still owns all it holds", out)
			}
			if want := len(ownedBy(two, "chat", "b", shards)); len(in) != want {
				t.Fatalf("%d in, want b's %d shards", len(in), want)
			}
		}},
		{"the capability is withdrawn everywhere", "a", two, none, heldByA, func(t *testing.T, out, in []Move) {
			if len(out) != len(heldByA["chat"]) || len(in) != 0 {
				t.Fatalf("%d out, %d in; want every held shard out", len(out), len(in))
			}
			for _, m := range out {
				if m.To != "" {
					t.Fatalf("move %+v names an owner; no node offers chat", m)
				}
			}
		}},
		{"first placement: nothing to receive from anyone", "a", nil, two, nil, func(t *testing.T, out, in []Move) {
			if len(out)+len(in) != 0 {
				t.Fatalf("out %v, in %v; want nothing", out, in)
			}
		}},
		{"held shards of a capability self never owned", "a", two, two, map[string][]uint32{"game": {1, 2}}, func(t *testing.T, out, in []Move) {
			if len(out) != 2 || out[0].Shard != 1 || out[1].Shard != 2 || out[0].To != "" {
				t.Fatalf("out %v; want shards 1 and 2 of game, to no one", out)
			}
		}},
		{"a held shard beyond the shard count", "a", two, two, map[string][]uint32{"chat": {shards + 5}}, func(t *testing.T, out, in []Move) {
			if len(out) != 1 || out[0].To != "" {
				t.Fatalf("out %v; want the impossible shard out, to no one", out)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, in := Moves(tc.self, tc.prev, tc.next, tc.held)
			tc.check(t, out, in)
			for _, list := range [][]Move{out, in} {
				for i := 1; i < len(list); i++ {
					if a, b := list[i-1], list[i]; a.Capability > b.Capability || a.Capability == b.Capability && a.Shard >= b.Shard {
						t.Fatalf("moves not sorted: %v before %v", a, b)
					}
				}
			}
		})
	}
}

func ExampleMoves() {
	two := Build(8, []Member{{Name: "a", Capabilities: []string{"chat"}}, {Name: "b", Capabilities: []string{"chat"}}}, nil)
	one := Build(8, []Member{{Name: "a", Capabilities: []string{"chat"}}}, two)
	_, in := Moves("a", two, one, nil)
	fmt.Println(len(in) > 0, in[0].From, in[0].To)
	// Output: true b a
}

// TestGiven: every shard self owned and no longer owns is listed once with
// its next owner, whatever self held; nothing else is.
func TestGiven(t *testing.T) {
	const shards = 64
	two := Build(shards, membersOf(map[string][]string{"a": {"chat"}, "b": {"chat"}}), nil)
	three := Build(shards, membersOf(map[string][]string{"a": {"chat"}, "b": {"chat"}, "c": {"chat"}}), two)
	bOnly := Build(shards, membersOf(map[string][]string{"b": {"chat"}}), two)
	none := Build(shards, nil, two)
	for _, tt := range []struct {
		name       string
		prev, next *Table
	}{
		{"a node joins", two, three},
		{"self leaves", two, bOnly},
		{"the capability goes", two, none},
		{"nothing changes", two, two},
		{"no previous placement", nil, two},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Given("a", tt.prev, tt.next)
			want := 0
			if tt.prev != nil {
				for s := range uint32(shards) {
					if tt.prev.Ring("chat").Owner(s) != "a" {
						continue
					}
					to := ""
					if r := tt.next.Ring("chat"); r != nil {
						to = r.Owner(s)
					}
					if to != "a" {
						want++
					}
				}
			}
			if len(got) != want {
				t.Fatalf("%d moves, want %d", len(got), want)
			}
			for i, m := range got {
				if m.From != "a" || tt.prev.Ring("chat").Owner(m.Shard) != "a" {
					t.Fatalf("move %+v: a did not own it", m)
				}
				if r := tt.next.Ring("chat"); (r == nil && m.To != "") || (r != nil && r.Owner(m.Shard) != m.To) {
					t.Fatalf("move %+v: wrong next owner", m)
				}
				if i > 0 && got[i-1].Shard >= m.Shard {
					t.Fatalf("moves not sorted at %d", i)
				}
			}
		})
	}
}
