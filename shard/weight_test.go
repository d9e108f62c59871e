package shard

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// shares returns the fraction of r's shards each node owns.
func shares(r *Ring) map[string]float64 {
	out := map[string]float64{}
	for s := range uint32(r.Shards()) {
		out[r.Owner(s)] += 1 / float64(r.Shards())
	}
	return out
}

// TestWeightDistribution: on average over many clusters, a node owns its
// weight's share of the shards. One ring deviates by several percent
// either way, weighted or not (20 points per unit of weight, load bound
// 1.25): the figures are logged, run with -v to read them.
func TestWeightDistribution(t *testing.T) {
	const trials = 40
	for _, weights := range [][]int{{1, 1, 1}, {1, 1, 2}, {1, 2, 3, 4}, {1, 4}, {1, 1, 1, 1, 1, 1, 1, 8}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			total := 0
			for _, w := range weights {
				total += w
			}
			mean := make([]float64, len(weights))
			worst := 0.0
			for trial := range trials {
				var ms []Member
				for i, w := range weights {
					ms = append(ms, Member{Name: fmt.Sprintf("t%d-node-%d", trial, i+1), Capabilities: []string{"c"}, Weight: w})
				}
				ring := Build(DefaultShards, ms, nil).Ring("c")
				got := shares(ring)
				for i, m := range ms {
					if ring.Weight(m.Name) != weights[i] {
						t.Fatalf("%s: Weight %d, want %d", m.Name, ring.Weight(m.Name), weights[i])
					}
					mean[i] += got[m.Name] / trials
					worst = max(worst, math.Abs(got[m.Name]-float64(weights[i])/float64(total)))
				}
			}
			for i, w := range weights {
				want := float64(w) / float64(total)
				t.Logf("weight %d: %.3f of the shards on average over %d rings, want %.3f", w, mean[i], trials, want)
				// Within a tenth of the ideal share, or 0.01.
				if d := math.Abs(mean[i] - want); d > max(0.01, want/10) {
					t.Errorf("weight %d owns %.3f of the shards on average, want %.3f", w, mean[i], want)
				}
			}
			t.Logf("worst single ring: %.3f from the ideal share", worst)
		})
	}
}

// TestWeightOneIsUnweighted: weight 1, 0 or out of range places exactly
// as a ring without weights, version included.
func TestWeightOneIsUnweighted(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	plain := NewRing("c", 1024, nodes)
	for _, w := range []int{0, 1, -3, MaxWeight + 1} {
		var ms []Member
		for _, n := range nodes {
			ms = append(ms, Member{Name: n, Capabilities: []string{"c"}, Weight: w})
		}
		r := Build(1024, ms, nil).Ring("c")
		if r.Version() != plain.Version() || !slices.Equal(r.owners, plain.owners) {
			t.Fatalf("weight %d places differently from no weight", w)
		}
		if r.Weight("a") != 1 || r.Weight("zz") != 0 {
			t.Fatalf("Weight = %d, %d", r.Weight("a"), r.Weight("zz"))
		}
	}
}

// TestWeightChangeMoves: raising one node's weight moves shards to it and
// little else, and is a new ring with a new version.
func TestWeightChangeMoves(t *testing.T) {
	ms := []Member{{Name: "a", Capabilities: []string{"c"}}, {Name: "b", Capabilities: []string{"c"}},
		{Name: "c", Capabilities: []string{"c"}}, {Name: "d", Capabilities: []string{"c"}}}
	prev := Build(DefaultShards, ms, nil)
	ms[3].Weight = 2
	next := Build(DefaultShards, ms, prev)
	if next.Ring("c") == prev.Ring("c") || next.Version() == prev.Version() {
		t.Fatal("a weight change reused the ring")
	}
	moved := next.Ring("c").Moved(prev.Ring("c"))
	toD := 0
	for _, s := range moved {
		if next.Ring("c").Owner(s) == "d" {
			toD++
		}
	}
	frac := float64(len(moved)) / DefaultShards
	t.Logf("weight of d 1 → 2 of 5: %.3f of the shards moved, %.3f to d (ideal 0.150)", frac, float64(toD)/DefaultShards)
	if frac > 0.25 || toD < len(moved)*8/10 {
		t.Fatalf("%.3f of the shards moved, %d of %d to d", frac, toD, len(moved))
	}
	// Unchanged weights reuse the ring.
	if again := Build(DefaultShards, ms, next); again.Ring("c") != next.Ring("c") {
		t.Fatal("same weights rebuilt the ring")
	}
}
