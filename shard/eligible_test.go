package shard

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// regional returns two eu and two us members that all offer orders, each
// declaring that orders requires region=eu.
func regional() []Member {
	var out []Member
	for _, n := range []struct{ name, region string }{{"eu-1", "eu"}, {"eu-2", "eu"}, {"us-1", "us"}, {"us-2", "us"}} {
		out = append(out, Member{
			Name: n.name, Capabilities: []string{"orders", "plain"},
			Labels:   map[string]string{"region": n.region},
			Requires: map[string]map[string]string{"orders": {"region": "eu"}},
		})
	}
	return out
}

func TestRequirementFiltersRing(t *testing.T) {
	tab := Build(DefaultShards, regional(), nil)
	ring := tab.Ring("orders")
	if ring == nil {
		t.Fatal("no ring for orders")
	}
	if got, want := ring.Nodes(), []string{"eu-1", "eu-2"}; !slices.Equal(got, want) {
		t.Fatalf("orders ring over %v, want %v", got, want)
	}
	if got := ring.Requires(); !reflect.DeepEqual(got, map[string]string{"region": "eu"}) {
		t.Fatalf("Requires = %v", got)
	}
	for s := range uint32(ring.Shards()) {
		if o := ring.Owner(s); o != "eu-1" && o != "eu-2" {
			t.Fatalf("shard %d owned by %s", s, o)
		}
	}
	// A capability without requirement still spans every member.
	if got := tab.Ring("plain").Nodes(); len(got) != 4 || tab.Ring("plain").Requires() != nil {
		t.Fatalf("plain ring over %v, requires %v", got, tab.Ring("plain").Requires())
	}
}

func TestExplainSaysWhy(t *testing.T) {
	ms := regional()
	ms[1].Draining = true
	ms = append(ms, Member{Name: "cache-1", Capabilities: []string{"plain"}})
	req, vs := Explain(ms, "orders")
	if !reflect.DeepEqual(req, map[string]string{"region": "eu"}) {
		t.Fatalf("requires %v", req)
	}
	want := []struct {
		member string
		ex     Exclusion
		reason string
	}{
		{"cache-1", NoCapability, "lacks the capability"},
		{"eu-1", Included, ""},
		{"eu-2", Draining, "draining"},
		{"us-1", MissingLabels, "lacks label region=eu"},
		{"us-2", MissingLabels, "lacks label region=eu"},
	}
	if len(vs) != len(want) {
		t.Fatalf("verdicts %+v", vs)
	}
	for i, w := range want {
		if vs[i].Member != w.member || vs[i].Exclusion != w.ex || vs[i].Reason() != w.reason {
			t.Errorf("verdict %d = %+v (%q), want %s %v %q", i, vs[i], vs[i].Reason(), w.member, w.ex, w.reason)
		}
	}
}

func TestNoMemberMeetsRequirement(t *testing.T) {
	ms := regional()[2:] // us only
	tab := Build(DefaultShards, ms, nil)
	if r := tab.Ring("orders"); r != nil {
		t.Fatalf("ring over %v, want none", r.Nodes())
	}
	if slices.Contains(tab.Capabilities(), "orders") {
		t.Fatal("orders listed among capabilities with a ring")
	}
	if _, offered := Requirement(ms, "orders"); !offered {
		t.Fatal("orders not reported as offered")
	}
	_, vs := Explain(ms, "orders")
	for _, v := range vs {
		if v.Exclusion != MissingLabels || !slices.Equal(v.Missing, []string{"region=eu"}) {
			t.Fatalf("verdict %+v", v)
		}
	}
}

func TestMultiLabelRequirement(t *testing.T) {
	ms := []Member{
		{Name: "a", Capabilities: []string{"c"}, Labels: map[string]string{"region": "eu", "tier": "gold"},
			Requires: map[string]map[string]string{"c": {"region": "eu", "tier": "gold"}}},
		{Name: "b", Capabilities: []string{"c"}, Labels: map[string]string{"region": "eu"},
			Requires: map[string]map[string]string{"c": {"region": "eu", "tier": "gold"}}},
		{Name: "c", Capabilities: []string{"c"},
			Requires: map[string]map[string]string{"c": {"region": "eu", "tier": "gold"}}},
	}
	if got := Build(64, ms, nil).Ring("c").Nodes(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("ring over %v, want [a]", got)
	}
	_, vs := Explain(ms, "c")
	if vs[1].Reason() != "lacks label tier=gold" || vs[2].Reason() != "lacks labels region=eu,tier=gold" {
		t.Fatalf("reasons %q, %q", vs[1].Reason(), vs[2].Reason())
	}
}

func TestConflictingRequirements(t *testing.T) {
	eu := map[string]map[string]string{"c": {"region": "eu"}}
	us := map[string]map[string]string{"c": {"region": "us"}}
	m := func(name, region string, req map[string]map[string]string) Member {
		return Member{Name: name, Capabilities: []string{"c"}, Labels: map[string]string{"region": region}, Requires: req}
	}
	tests := []struct {
		name    string
		members []Member
		ring    []string
		reason  map[string]string
	}{
		{"majority holds", []Member{m("a", "eu", eu), m("b", "eu", eu), m("c", "us", us)},
			[]string{"a", "b"}, map[string]string{"c": "declares requirement region=us"}},
		{"tie: the least holds", []Member{m("a", "us", us), m("b", "eu", eu)},
			[]string{"b"}, map[string]string{"a": "declares requirement region=us"}},
		{"tie with none: none holds", []Member{m("a", "eu", eu), m("b", "us", nil)},
			[]string{"b"}, map[string]string{"a": "declares requirement region=eu"}},
		{"a draining member does not vote", []Member{m("a", "us", us), m("b", "eu", eu), func() Member {
			x := m("c", "us", us)
			x.Draining = true
			return x
		}()}, []string{"b"}, map[string]string{"a": "declares requirement region=us", "c": "draining"}},
		{"none declared against a requirement", []Member{m("a", "eu", eu), m("b", "eu", eu), m("c", "us", nil)},
			[]string{"a", "b"}, map[string]string{"c": "declares no requirement"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				ms := slices.Clone(tc.members)
				rand.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
				if got := Build(64, ms, nil).Ring("c").Nodes(); !slices.Equal(got, tc.ring) {
					t.Fatalf("ring over %v, want %v", got, tc.ring)
				}
				_, vs := Explain(ms, "c")
				for _, v := range vs {
					if want := tc.reason[v.Member]; v.Reason() != want {
						t.Fatalf("%s: reason %q, want %q", v.Member, v.Reason(), want)
					}
				}
			}
		})
	}
}

// TestRequirementKeyIsUnambiguous: metadata comes from the network, so
// requirements whose keys and values hold separators must not be taken for
// one another.
func TestRequirementKeyIsUnambiguous(t *testing.T) {
	a := map[string]string{"k": "v,x=y"}
	b := map[string]string{"k": "v", "x": "y"}
	if labelsKey(a) == labelsKey(b) {
		t.Fatalf("labelsKey(%v) == labelsKey(%v)", a, b)
	}
	ms := []Member{
		{Name: "a", Capabilities: []string{"c"}, Labels: b, Requires: map[string]map[string]string{"c": a}},
		{Name: "b", Capabilities: []string{"c"}, Labels: b, Requires: map[string]map[string]string{"c": b}},
		{Name: "c", Capabilities: []string{"c"}, Labels: b, Requires: map[string]map[string]string{"c": b}},
	}
	if got := Build(64, ms, nil).Ring("c").Nodes(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("ring over %v", got)
	}
}

// TestLeaveMovesWithinRequirement: an eu node leaving moves its shards to
// the other eu node only, and nothing else moves.
func TestLeaveMovesWithinRequirement(t *testing.T) {
	all := regional()
	prev := Build(DefaultShards, all, nil)
	next := Build(DefaultShards, slices.Delete(slices.Clone(all), 0, 1), prev)
	moved := next.Ring("orders").Moved(prev.Ring("orders"))
	if len(moved) == 0 {
		t.Fatal("nothing moved")
	}
	for _, s := range moved {
		if from, to := prev.Ring("orders").Owner(s), next.Ring("orders").Owner(s); from != "eu-1" || to != "eu-2" {
			t.Fatalf("shard %d moved %s → %s", s, from, to)
		}
	}
	// A us node leaving changes nothing of orders: its ring is reused.
	usGone := Build(DefaultShards, all[:3], prev)
	if usGone.Ring("orders") != prev.Ring("orders") {
		t.Fatal("orders ring rebuilt when a node not on it left")
	}
}

// TestReuseNeedsSameRequirement: a ring over the same nodes under another
// requirement is not the old ring.
func TestReuseNeedsSameRequirement(t *testing.T) {
	ms := []Member{{Name: "a", Capabilities: []string{"c"}, Labels: map[string]string{"region": "eu", "tier": "gold"}}}
	prev := Build(64, ms, nil)
	ms[0].Requires = map[string]map[string]string{"c": {"tier": "gold"}}
	next := Build(64, ms, prev)
	if next.Ring("c") == prev.Ring("c") || !reflect.DeepEqual(next.Ring("c").Requires(), map[string]string{"tier": "gold"}) {
		t.Fatalf("ring reused across a change of requirement: %v", next.Ring("c").Requires())
	}
}
