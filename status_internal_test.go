package mesh

import (
	"slices"
	"testing"
	"time"

	"github.com/meshrun/mesh/cluster"
	"github.com/meshrun/mesh/shard"
)

// snapshot builds routes for members given as name → capabilities; a name
// ending in "*" is draining.
func snapshot(members map[string][]string) *routes {
	r := &routes{members: map[string]cluster.Member{}}
	var placed []shard.Member
	for name, caps := range members {
		draining := name[len(name)-1] == '*'
		if draining {
			name = name[:len(name)-1]
		} else {
			placed = append(placed, shard.Member{Name: name, Capabilities: caps})
		}
		r.members[name] = cluster.Member{Name: name, Meta: cluster.Meta{Capabilities: caps, Draining: draining}}
	}
	r.table = shard.Build(64, placed, nil)
	return r
}

func kinds(rs []StatusReason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind+" "+r.Subject)
	}
	slices.Sort(out)
	return out
}

// TestHealthLog: a member that vanishes without draining is failed until it
// comes back or five minutes pass; one that drained first is not; a
// capability that loses its last member is unavailable until one offers it
// again.
func TestHealthLog(t *testing.T) {
	t0 := time.Unix(1000, 0)
	three := snapshot(map[string][]string{"a": {"echo"}, "b": {"echo", "solo"}, "c": {"echo"}})
	bDraining := snapshot(map[string][]string{"a": {"echo"}, "b*": {"echo", "solo"}, "c": {"echo"}})
	withoutB := snapshot(map[string][]string{"a": {"echo"}, "c": {"echo"}})

	tests := []struct {
		name   string
		steps  []*routes
		at     time.Duration // after the last step
		failed []string
		want   []string
	}{
		{"crash", []*routes{three, withoutB}, time.Second, []string{"b"},
			[]string{"capability_unavailable solo", "member_failed b"}},
		{"crash and return", []*routes{three, withoutB, three}, time.Second, []string{"b"}, nil},
		{"crash forgotten", []*routes{three, withoutB}, lossMemory + time.Second, []string{"b"}, nil},
		{"graceful leave", []*routes{three, bDraining, withoutB}, time.Second, nil,
			[]string{"capability_unavailable solo"}},
		{"no change", []*routes{three, three}, time.Second, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h healthLog
			var failed []string
			for i := 1; i < len(tt.steps); i++ {
				f, _ := h.observe(tt.steps[i-1], tt.steps[i], t0.Add(time.Duration(i)*time.Millisecond))
				failed = append(failed, f...)
			}
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("failed members %v, want %v", failed, tt.failed)
			}
			if got := kinds(h.reasons(t0.Add(tt.at))); !slices.Equal(got, tt.want) {
				t.Errorf("reasons %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSuspectAfter: a member probed once per round of the others is
// suspect after two rounds and two intervals without an ack.
func TestSuspectAfter(t *testing.T) {
	const iv = 500 * time.Millisecond
	for _, tt := range []struct {
		members int
		want    time.Duration
	}{{1, 2 * time.Second}, {2, 2 * time.Second}, {3, 3 * time.Second}, {10, 10 * time.Second}} {
		if got := suspectAfter(iv, tt.members); got != tt.want {
			t.Errorf("suspectAfter(%v, %d) = %v, want %v", iv, tt.members, got, tt.want)
		}
	}
}
