package shard

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// nodeNames returns n0 ... n<k-1>.
func nodeNames(k int) []string {
	names := make([]string, k)
	for i := range names {
		names[i] = "node-" + strconv.Itoa(i)
	}
	return names
}

// owners returns the owner of every shard of r.
func owners(r *Ring) []string {
	out := make([]string, r.Shards())
	for s := range out {
		out[s] = r.Owner(uint32(s))
	}
	return out
}

// samePlacement reports whether a and b place every capability's shards on
// the same nodes.
func samePlacement(a, b *Table) bool {
	if a.Shards() != b.Shards() || !slices.Equal(a.Capabilities(), b.Capabilities()) {
		return false
	}
	for _, c := range a.Capabilities() {
		if !slices.Equal(owners(a.Ring(c)), owners(b.Ring(c))) {
			return false
		}
	}
	return true
}

// movedBrute compares old and cur shard by shard.
func movedBrute(old, cur *Ring) []uint32 {
	var moved []uint32
	for s := range cur.Shards() {
		if old.Owner(uint32(s)) != cur.Owner(uint32(s)) {
			moved = append(moved, uint32(s))
		}
	}
	return moved
}

func TestOf(t *testing.T) {
	ids := []string{"", "a", "user-42", "actor_0", "actor_9999", "ünïcode", string(make([]byte, 1000))}
	for _, n := range []int{1, 2, 7, 1024, DefaultShards, MaxShards} {
		for _, id := range ids {
			t.Run(fmt.Sprintf("n=%d/id=%.12q", n, id), func(t *testing.T) {
				got := Of(id, n)
				want := uint32(xxhash.Sum64String(id) % uint64(n))
				if got != want {
					t.Fatalf("Of(%q, %d) = %d, want xxhash %% n = %d", id, n, got, want)
				}
				if int(got) >= n {
					t.Fatalf("Of(%q, %d) = %d, out of range", id, n, got)
				}
			})
		}
	}
}

func TestOfSpreadsIDs(t *testing.T) {
	// 10,000 sequential IDs over 16 shards: every shard is hit, none holds
	// more than twice its share. A hash that ignored part of the ID would fail.
	const n, ids = 16, 10000
	counts := make([]int, n)
	for i := range ids {
		counts[Of("actor_"+strconv.Itoa(i), n)]++
	}
	for s, c := range counts {
		if c == 0 || c > 2*ids/n {
			t.Errorf("shard %d holds %d of %d IDs (mean %d)", s, c, ids, ids/n)
		}
	}
}

func TestNewRingDeterministic(t *testing.T) {
	for _, k := range []int{1, 2, 3, 5, 8} {
		t.Run(fmt.Sprintf("nodes=%d", k), func(t *testing.T) {
			names := nodeNames(k)
			want := NewRing("chat", DefaultShards, names)
			wantOwners := owners(want)
			if !slices.Equal(want.Nodes(), names) {
				t.Fatalf("Nodes() = %v, want sorted %v", want.Nodes(), names)
			}
			rng := rand.New(rand.NewPCG(1, uint64(k)))
			for i := range 20 {
				in := slices.Clone(names)
				if i%2 == 1 {
					// Duplicates must not change the ring.
					in = append(in, names[rng.IntN(k)], names[0])
				}
				rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
				got := NewRing("chat", DefaultShards, in)
				if got.Version() != want.Version() {
					t.Fatalf("input %v: version %x, want %x", in, got.Version(), want.Version())
				}
				if !slices.Equal(got.Nodes(), want.Nodes()) {
					t.Fatalf("input %v: nodes %v, want %v", in, got.Nodes(), want.Nodes())
				}
				if g := owners(got); !slices.Equal(g, wantOwners) {
					t.Fatalf("input %v: %d of %d shards have another owner", in, len(movedBrute(want, got)), DefaultShards)
				}
			}
		})
	}
}

func TestRingAccessors(t *testing.T) {
	r := NewRing("game", 64, []string{"b", "a", "c"})
	if r.Capability() != "game" {
		t.Errorf("Capability() = %q", r.Capability())
	}
	if r.Shards() != 64 {
		t.Errorf("Shards() = %d, want 64", r.Shards())
	}
	for _, tc := range []struct {
		node string
		want bool
	}{{"a", true}, {"b", true}, {"c", true}, {"d", false}, {"", false}, {"A", false}} {
		if got := r.Has(tc.node); got != tc.want {
			t.Errorf("Has(%q) = %v, want %v", tc.node, got, tc.want)
		}
	}
	for s := range r.Shards() {
		if o := r.Owner(uint32(s)); !r.Has(o) {
			t.Fatalf("shard %d owned by %q, not on the ring", s, o)
		}
	}
	// The version names the capability and the shard count as well as the nodes.
	for name, other := range map[string]*Ring{
		"capability": NewRing("chat", 64, []string{"a", "b", "c"}),
		"shards":     NewRing("game", 128, []string{"a", "b", "c"}),
		"nodes":      NewRing("game", 64, []string{"a", "b", "d"}),
	} {
		if other.Version() == r.Version() {
			t.Errorf("a ring with another %s has the same version %x", name, r.Version())
		}
	}
}

// members returns k members that all offer caps.
func members(k int, caps ...string) []Member {
	ms := make([]Member, k)
	for i, n := range nodeNames(k) {
		ms[i] = Member{Name: n, Capabilities: slices.Clone(caps)}
	}
	return ms
}

func TestBuildDeterministic(t *testing.T) {
	base := []Member{
		{Name: "node-0", Capabilities: []string{"chat", "counter", "game"}},
		{Name: "node-1", Capabilities: []string{"chat", "counter"}},
		{Name: "node-2", Capabilities: []string{"counter", "game"}},
		{Name: "node-3", Capabilities: []string{"chat", "counter"}},
		{Name: "node-4", Capabilities: []string{"solo"}},
	}
	want := Build(DefaultShards, base, nil)
	if got, w := want.Capabilities(), []string{"chat", "counter", "game", "solo"}; !slices.Equal(got, w) {
		t.Fatalf("Capabilities() = %v, want %v", got, w)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20 {
		t.Run(fmt.Sprintf("order=%d", i), func(t *testing.T) {
			in := make([]Member, 0, len(base)+2)
			for _, m := range base {
				caps := slices.Clone(m.Capabilities)
				rng.Shuffle(len(caps), func(a, b int) { caps[a], caps[b] = caps[b], caps[a] })
				if i%3 == 1 {
					caps = append(caps, caps[0]) // a capability listed twice
				}
				in = append(in, Member{Name: m.Name, Capabilities: caps})
			}
			if i%2 == 1 {
				in = append(in, in[rng.IntN(len(in))], in[0]) // a member listed twice
			}
			rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
			got := Build(DefaultShards, in, nil)
			if got.Version() != want.Version() {
				t.Errorf("version %x, want %x", got.Version(), want.Version())
			}
			if !samePlacement(got, want) {
				t.Errorf("placement differs from the sorted build")
			}
		})
	}
}

func TestEveryNodeNamesTheSameOwner(t *testing.T) {
	const ids = 10000
	caps := []string{"chat", "counter"}
	for _, k := range []int{3, 4, 5} {
		t.Run(fmt.Sprintf("nodes=%d", k), func(t *testing.T) {
			// Each node builds its own table from the member list in the
			// order it happens to see it.
			rng := rand.New(rand.NewPCG(3, uint64(k)))
			tables := make([]*Table, k)
			for i := range tables {
				view := members(k, caps...)
				rng.Shuffle(len(view), func(a, b int) { view[a], view[b] = view[b], view[a] })
				tables[i] = Build(DefaultShards, view, nil)
			}
			for _, c := range caps {
				counts := make(map[string]int)
				for i := range ids {
					id := "actor_" + strconv.Itoa(i)
					s := Of(id, tables[0].Shards())
					want := tables[0].Ring(c).Owner(s)
					counts[want]++
					for n, tb := range tables[1:] {
						if got := tb.Ring(c).Owner(Of(id, tb.Shards())); got != want {
							t.Fatalf("%s %s: node %d says %s, node 0 says %s", c, id, n+1, got, want)
						}
					}
				}
				if len(counts) != k {
					t.Errorf("%s: %d IDs landed on %d of %d nodes: %v", c, ids, len(counts), k, counts)
				}
			}
		})
	}
}

func TestCapabilityOffers(t *testing.T) {
	ms := []Member{
		{Name: "node-0", Capabilities: []string{"common"}},
		{Name: "node-1", Capabilities: []string{"common", "rare"}},
		{Name: "node-2", Capabilities: []string{"common"}},
		{Name: "node-3"},
	}
	tb := Build(DefaultShards, ms, nil)
	tests := []struct {
		capability string
		nodes      []string // nil: no ring
	}{
		{"common", []string{"node-0", "node-1", "node-2"}},
		{"rare", []string{"node-1"}},
		{"nobody", nil},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.capability, func(t *testing.T) {
			r := tb.Ring(tc.capability)
			if tc.nodes == nil {
				if r != nil {
					t.Fatalf("Ring(%q) = ring over %v, want nil", tc.capability, r.Nodes())
				}
				return
			}
			if r == nil {
				t.Fatalf("Ring(%q) = nil", tc.capability)
			}
			if !slices.Equal(r.Nodes(), tc.nodes) {
				t.Fatalf("Nodes() = %v, want %v", r.Nodes(), tc.nodes)
			}
			if r.Capability() != tc.capability {
				t.Fatalf("Capability() = %q", r.Capability())
			}
			seen := make(map[string]int)
			for _, o := range owners(r) {
				seen[o]++
			}
			if len(seen) != len(tc.nodes) {
				t.Fatalf("shards owned by %v, want every one of %v", seen, tc.nodes)
			}
			for _, n := range tc.nodes {
				if seen[n] == 0 {
					t.Errorf("%s owns no shard", n)
				}
			}
			if r.Has("node-3") {
				t.Errorf("node-3 offers nothing but is on the %q ring", tc.capability)
			}
		})
	}
}

// movedShare is the fraction of shards whose owner differs.
func movedShare(old, cur *Ring) float64 {
	return float64(len(movedBrute(old, cur))) / float64(cur.Shards())
}

// moduloShare is the fraction of shards that modulo placement (owner =
// shard mod nodes) moves when the node count goes from a to b.
func moduloShare(shards, a, b int) float64 {
	moved := 0
	for s := range shards {
		if s%a != s%b {
			moved++
		}
	}
	return float64(moved) / float64(shards)
}

func TestMovementOnJoin(t *testing.T) {
	for _, n := range []int{3, 4, 5} {
		t.Run(fmt.Sprintf("%d+1", n), func(t *testing.T) {
			old := NewRing("chat", DefaultShards, nodeNames(n))
			cur := NewRing("chat", DefaultShards, nodeNames(n+1))
			share := movedShare(old, cur)
			ideal := 1 / float64(n+1)
			t.Logf("join %d→%d nodes: consistent hashing moved %.4f of %d shards (ideal 1/(N+1) = %.4f); modulo placement would move %.4f",
				n, n+1, share, DefaultShards, ideal, moduloShare(DefaultShards, n, n+1))
			if share > 1.5*ideal || share < 0.5*ideal {
				t.Fatalf("moved %.4f of shards, want within [%.4f, %.4f]", share, 0.5*ideal, 1.5*ideal)
			}
			// Most moves go to the new node; the rest are the bounded-load
			// ring's collateral.
			newNode := nodeNames(n + 1)[n]
			toNew := 0
			for _, s := range movedBrute(old, cur) {
				if cur.Owner(s) == newNode {
					toNew++
				}
			}
			if got := float64(toNew) / float64(len(movedBrute(old, cur))); got < 0.9 {
				t.Errorf("only %.3f of moved shards went to the new node", got)
			}
		})
	}
}

func TestMovementOnLeave(t *testing.T) {
	for _, n := range []int{4, 5} {
		for _, leaver := range []int{0, n - 1} {
			t.Run(fmt.Sprintf("%d-node%d", n, leaver), func(t *testing.T) {
				names := nodeNames(n)
				old := NewRing("chat", DefaultShards, names)
				rest := slices.Delete(slices.Clone(names), leaver, leaver+1)
				cur := NewRing("chat", DefaultShards, rest)
				share := movedShare(old, cur)
				ideal := 1 / float64(n)
				t.Logf("leave %d→%d nodes: consistent hashing moved %.4f of %d shards (ideal 1/N = %.4f); modulo placement would move %.4f",
					n, n-1, share, DefaultShards, ideal, moduloShare(DefaultShards, n, n-1))
				if share > 1.5*ideal || share < 0.5*ideal {
					t.Fatalf("moved %.4f of shards, want within [%.4f, %.4f]", share, 0.5*ideal, 1.5*ideal)
				}
				// Every shard of the leaver must move.
				for s := range old.Shards() {
					if old.Owner(uint32(s)) == names[leaver] && cur.Owner(uint32(s)) == names[leaver] {
						t.Fatalf("shard %d still owned by the node that left", s)
					}
				}
			})
		}
	}
}

func TestMoved(t *testing.T) {
	const shards = 1024
	ring := func(nodes ...string) *Ring { return NewRing("chat", shards, nodes) }
	tests := []struct {
		name     string
		old, cur *Ring
	}{
		{"join", ring("a", "b", "c"), ring("a", "b", "c", "d")},
		{"leave", ring("a", "b", "c", "d"), ring("a", "b", "d")},
		{"replace", ring("a", "b", "c"), ring("a", "b", "x")},
		{"same", ring("a", "b", "c"), ring("c", "b", "a")},
		{"one to two", ring("a"), ring("a", "b")},
		{"all new", ring("a", "b"), ring("x", "y")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cur.Moved(tc.old)
			want := movedBrute(tc.old, tc.cur)
			if !slices.Equal(got, want) {
				t.Fatalf("Moved returned %d shards, brute force finds %d", len(got), len(want))
			}
			if tc.name == "same" && len(got) != 0 {
				t.Fatalf("an identical ring moved %d shards", len(got))
			}
			if tc.name != "same" && len(got) == 0 {
				t.Fatalf("a changed ring moved nothing")
			}
			// Symmetric: the same shards changed owner either way.
			if back := tc.old.Moved(tc.cur); !slices.Equal(back, want) {
				t.Fatalf("old.Moved(cur) = %d shards, want %d", len(back), len(want))
			}
		})
	}
	t.Run("other shard count", func(t *testing.T) {
		cur := ring("a", "b")
		for _, old := range []*Ring{NewRing("chat", shards/4, []string{"a", "b"}), NewRing("chat", shards*4, []string{"a", "b"})} {
			if got := cur.Moved(old); len(got) != shards {
				t.Fatalf("Moved from %d shards = %d shards, want all %d", old.Shards(), len(got), shards)
			}
		}
	})
	t.Run("nil old", func(t *testing.T) {
		if got := ring("a", "b").Moved(nil); got != nil {
			t.Fatalf("Moved(nil) = %d shards, want nil", len(got))
		}
	})
}

func TestBuildReusesUnchangedRings(t *testing.T) {
	prev := Build(DefaultShards, []Member{
		{Name: "a", Capabilities: []string{"stable", "grows", "shrinks", "gone"}},
		{Name: "b", Capabilities: []string{"stable", "grows", "shrinks"}},
		{Name: "c", Capabilities: []string{"stable", "shrinks"}},
	}, nil)
	cur := Build(DefaultShards, []Member{
		{Name: "c", Capabilities: []string{"stable", "grows", "new"}},
		{Name: "b", Capabilities: []string{"grows", "shrinks", "stable"}},
		{Name: "a", Capabilities: []string{"stable", "grows", "shrinks"}},
		{Name: "a", Capabilities: []string{"shrinks"}}, // duplicate entry
	}, prev)
	// "shrinks": c stopped offering it, so a and b remain.
	tests := []struct {
		capability string
		reused     bool
		nodes      []string
	}{
		{"stable", true, []string{"a", "b", "c"}},
		{"grows", false, []string{"a", "b", "c"}},
		{"shrinks", false, []string{"a", "b"}},
		{"new", false, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.capability, func(t *testing.T) {
			r := cur.Ring(tc.capability)
			if r == nil {
				t.Fatal("no ring")
			}
			if same := r == prev.Ring(tc.capability); same != tc.reused {
				t.Fatalf("ring reused = %v, want %v", same, tc.reused)
			}
			if !slices.Equal(r.Nodes(), tc.nodes) {
				t.Fatalf("Nodes() = %v, want %v", r.Nodes(), tc.nodes)
			}
			fresh := NewRing(tc.capability, DefaultShards, tc.nodes)
			if r.Version() != fresh.Version() || !slices.Equal(owners(r), owners(fresh)) {
				t.Fatalf("ring differs from one built from scratch")
			}
		})
	}
	if cur.Ring("gone") != nil {
		t.Errorf("ring of a capability nobody offers any more survived")
	}
	// A previous table with another shard count is not reused.
	other := Build(1024, []Member{{Name: "a", Capabilities: []string{"stable"}}, {Name: "b", Capabilities: []string{"stable"}}, {Name: "c", Capabilities: []string{"stable"}}}, prev)
	if r := other.Ring("stable"); r == prev.Ring("stable") || r.Shards() != 1024 {
		t.Errorf("a ring of %d shards was reused for a 1024-shard table", prev.Shards())
	}
}

func TestBalance(t *testing.T) {
	for _, n := range []int{3, 4, 5} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			r := NewRing("chat", DefaultShards, nodeNames(n))
			counts := make(map[string]int)
			for _, o := range owners(r) {
				counts[o]++
			}
			mean := float64(DefaultShards) / float64(n)
			maxN, minN := 0, DefaultShards
			for _, c := range counts {
				maxN, minN = max(maxN, c), min(minN, c)
			}
			t.Logf("%d nodes: shards per node min %d, max %d, mean %.1f; max/mean %.3f", n, minN, maxN, mean, float64(maxN)/mean)
			if len(counts) != n {
				t.Fatalf("only %d of %d nodes own shards", len(counts), n)
			}
			if float64(maxN) > 1.3*mean {
				t.Fatalf("a node owns %d shards, more than 1.3 × mean %.1f", maxN, mean)
			}
		})
	}
}

func TestTableVersion(t *testing.T) {
	abc := []Member{
		{Name: "a", Capabilities: []string{"chat", "game"}},
		{Name: "b", Capabilities: []string{"chat"}},
		{Name: "c", Capabilities: []string{"chat", "game"}},
	}
	cases := map[string]*Table{
		"base":             Build(DefaultShards, abc, nil),
		"base reordered":   Build(DefaultShards, []Member{abc[2], abc[0], abc[1]}, nil),
		"base from prev":   Build(DefaultShards, abc, Build(DefaultShards, abc[:2], nil)),
		"node added":       Build(DefaultShards, append(slices.Clone(abc), Member{Name: "d", Capabilities: []string{"chat"}}), nil),
		"node removed":     Build(DefaultShards, abc[:2], nil),
		"node renamed":     Build(DefaultShards, []Member{abc[0], abc[1], {Name: "z", Capabilities: []string{"chat", "game"}}}, nil),
		"capability added": Build(DefaultShards, []Member{abc[0], {Name: "b", Capabilities: []string{"chat", "game"}}, abc[2]}, nil),
		"capability moved": Build(DefaultShards, []Member{{Name: "a", Capabilities: []string{"chat"}}, {Name: "b", Capabilities: []string{"chat", "game"}}, abc[2]}, nil),
		"extra capability": Build(DefaultShards, []Member{abc[0], abc[1], {Name: "c", Capabilities: []string{"chat", "game", "solo"}}}, nil),
		"fewer shards":     Build(1024, abc, nil),
		"empty":            Build(DefaultShards, nil, nil),
	}
	names := slices.Sorted(maps.Keys(cases))
	for i, x := range names {
		for _, y := range names[i+1:] {
			a, b := cases[x], cases[y]
			same := samePlacement(a, b)
			if (a.Version() == b.Version()) != same {
				t.Errorf("%s vs %s: versions %x and %x, same placement %v", x, y, a.Version(), b.Version(), same)
			}
		}
	}
	// The cases above must include both outcomes, or the check proves nothing.
	if !samePlacement(cases["base"], cases["base reordered"]) || !samePlacement(cases["base"], cases["base from prev"]) {
		t.Fatal("equal member sets gave different placements")
	}
}

func BenchmarkOf(b *testing.B) {
	id := "0f8fad5b-d9cb-469f-a165-70867728950e" // 36 bytes, a UUID
	b.ReportAllocs()
	var s uint32
	for b.Loop() {
		s += Of(id, DefaultShards)
	}
	_ = s
}

func BenchmarkOwner(b *testing.B) {
	tb := Build(DefaultShards, members(5, "chat"), nil)
	r := tb.Ring("chat")
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "actor_" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	var n int
	for b.Loop() {
		n += len(r.Owner(Of(ids[i&1023], DefaultShards)))
		i++
	}
	_ = n
}

func BenchmarkNewRing4096(b *testing.B) {
	names := nodeNames(5)
	b.ReportAllocs()
	for b.Loop() {
		NewRing("chat", DefaultShards, names)
	}
}
