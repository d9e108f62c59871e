package admin

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// obsMetrics registers, in reg, the families of internal/obs that the
// dashboard reads, with the same names, labels and buckets.
type obsMetrics struct {
	calls       *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	handoffs    *prometheus.CounterVec
	activations *prometheus.GaugeVec
}

func newObsMetrics(reg *prometheus.Registry) *obsMetrics {
	m := &obsMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: familyCalls}, []string{"capability", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: familyLatency,
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"capability"}),
		handoffs:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: familyHandoffs}, []string{"capability", "result"}),
		activations: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: familyActivations}, []string{"capability"}),
	}
	reg.MustRegister(m.calls, m.latency, m.handoffs, m.activations)
	return m
}

// clockedDashboard is a dashboard over f whose clock the test moves.
func clockedDashboard(f *fakeNode) (*dashboard, *time.Time) {
	now := t0
	if f.reg == nil {
		f.reg = prometheus.NewRegistry()
	}
	return newDashboard(f, func() time.Time { return now }), &now
}

// kinds lists the kinds of the timeline's events, oldest first, and
// their details.
func kinds(s *dashSnapshot) (string, string) {
	var k, d []string
	for i := len(s.Timeline) - 1; i >= 0; i-- {
		k = append(k, s.Timeline[i].Kind)
		d = append(d, s.Timeline[i].Detail)
	}
	return strings.Join(k, " "), strings.Join(d, "\n")
}

// TestDashboardTimeline: diffing successive views records joins, state
// changes, failures (gone without draining), leaves (gone after
// draining), rebalances and handoffs; departed members stay listed as
// failed or left.
func TestDashboardTimeline(t *testing.T) {
	f := dashNode()
	f.members = f.members[:3] // node-1, node-2, node-3 (suspect)
	m := newObsMetrics(prometheus.NewRegistry())
	f.reg = prometheus.NewRegistry()
	f.reg.MustRegister(m.calls, m.latency, m.handoffs, m.activations)
	d, now := clockedDashboard(f)
	ctx := context.Background()
	step := func(edit func()) *dashSnapshot {
		edit()
		*now = now.Add(dashSampleEvery)
		d.refresh(ctx, false)
		return d.snap.Load()
	}
	d.refresh(ctx, false)
	step(func() { f.members[2].State = "alive" })    // node-3 alive again
	step(func() { f.members[1].State = "draining" }) // node-2 drains

	step(func() {
		// node-3 fails: rebalance
		f.members = f.members[:2]
		f.routingVersion = 0x42
		f.rings = []RingInfo{{Capability: "room", Version: 7, Shards: 4096, Owners: map[string]int{"node-1": 4096}}}
	})
	step(func() { m.handoffs.WithLabelValues("room", "sent").Add(12) })
	snap := step(func() {
		f.members = append(f.members[:1], MemberInfo{Name: "node-4", State: "alive"}) // node-2 leaves, node-4 joins
	})
	got, details := kinds(snap)
	want := "start alive draining failure rebalance handoff join leave"
	if got != want {
		t.Fatalf("timeline %q, want %q:\n%s", got, want, details)
	}
	for _, part := range []string{"node-3 is gone without draining", "routing version ba82229a7d1c23f8 → 0000000000000042; rings changed: room",
		"room: sent 12", "node-2 left after draining"} {
		if !strings.Contains(details, part) {
			t.Errorf("timeline lacks %q:\n%s", part, details)
		}
	}
	states := map[string]string{}
	for _, mb := range snap.Members {
		states[mb.Name] = mb.State
	}
	if want := map[string]string{"node-1": "alive", "node-4": "alive", "node-3": stateFailed, "node-2": stateLeft}; len(states) != len(want) ||
		states["node-3"] != stateFailed || states["node-2"] != stateLeft || states["node-4"] != "alive" {
		t.Errorf("members %v, want %v", states, want)
	}
	// A departed member that comes back is no longer listed as departed.
	snap = step(func() { f.members = append(f.members, MemberInfo{Name: "node-3", State: "alive"}) })
	n := 0
	for _, mb := range snap.Members {
		if mb.Name == "node-3" {
			n++
			if mb.State != "alive" {
				t.Errorf("node-3 back: %s", mb.State)
			}
		}
	}
	if n != 1 {
		t.Errorf("node-3 listed %d times", n)
	}
	// Departed members are forgotten after departedFor.
	step(func() { f.members = f.members[:1] })
	*now = now.Add(departedFor)
	snap = step(func() {})
	if len(snap.Members) != 1 {
		t.Errorf("after %v, %d members listed: %v", departedFor, len(snap.Members), snap.Members)
	}
}

// TestDashboardBounded: however long the node runs and however much its
// view flaps, the timeline, the departed members and the samples stay
// bounded.
func TestDashboardBounded(t *testing.T) {
	f := dashNode()
	d, now := clockedDashboard(f)
	base := f.members
	for i := range 1000 {
		f.members = base
		if i%2 == 0 {
			f.members = append(append([]MemberInfo{}, base...), MemberInfo{Name: "flap-" + strconv.Itoa(i), State: "alive"})
		}
		f.routingVersion = uint64(i)
		*now = now.Add(dashSampleEvery)
		d.refresh(context.Background(), false)
	}
	if len(d.timeline) != maxTimeline || len(d.snap.Load().Timeline) != maxTimeline {
		t.Errorf("timeline %d, want %d", len(d.timeline), maxTimeline)
	}
	if len(d.departed) > maxDeparted {
		t.Errorf("%d departed kept, want at most %d", len(d.departed), maxDeparted)
	}
	if len(d.samples) != dashSamples || cap(d.samples) != dashSamples {
		t.Errorf("%d samples (cap %d), want %d", len(d.samples), cap(d.samples), dashSamples)
	}
	// The newest event comes first.
	if s := d.snap.Load(); !s.Timeline[0].At.Equal(*now) {
		t.Errorf("first event at %v, want the newest (%v)", s.Timeline[0].At, *now)
	}
}

// TestDashboardCalls: calls/s, errors and p99 per capability come from
// the deltas of mesh_calls_total and mesh_call_duration_seconds between
// samples, over the window, and the node's own activations from
// mesh_activations.
func TestDashboardCalls(t *testing.T) {
	f := dashNode()
	f.reg = prometheus.NewRegistry()
	m := newObsMetrics(f.reg)
	d, now := clockedDashboard(f)
	ctx := context.Background()
	// Calls before the dashboard's first sample do not count.
	m.calls.WithLabelValues("room", "ok").Add(1000)
	m.latency.WithLabelValues("room").Observe(9)
	m.activations.WithLabelValues("room").Set(7)
	m.activations.WithLabelValues("chat").Set(3)
	d.refresh(ctx, false)
	for range 5 {
		*now = now.Add(dashSampleEvery)
		// Per 2 s: 100 calls, 4 failed; 98 at 1 ms, 2 at 2 s.
		m.calls.WithLabelValues("room", "ok").Add(96)
		m.calls.WithLabelValues("room", "deadline").Add(4)
		for range 98 {
			m.latency.WithLabelValues("room").Observe(.0009)
		}
		m.latency.WithLabelValues("room").Observe(2)
		m.latency.WithLabelValues("room").Observe(2)
		d.refresh(ctx, false)
	}
	snap := d.snap.Load()
	if len(snap.Calls) != 1 {
		t.Fatalf("calls %+v", snap.Calls)
	}
	c := snap.Calls[0]
	if c.Capability != "room" || c.CallsPerSec != 50 || c.ErrorsPerSec != 2 || c.Errors != 20 {
		t.Errorf("room: %+v, want 50 calls/s, 2 errors/s, 20 errors", c)
	}
	// The 99th of 100 calls is among the 2 s ones: in the (1, 2.5] bucket.
	if c.P99Ms == nil || *c.P99Ms <= 1000 || *c.P99Ms > 2500 {
		t.Errorf("p99 %v ms, want in (1000, 2500]", c.P99Ms)
	}
	if len(c.SeriesCalls) != 5 || c.SeriesCalls[4] != 50 || len(snap.SeriesAt) != 5 {
		t.Errorf("series %v at %v", c.SeriesCalls, snap.SeriesAt)
	}
	for _, mb := range snap.Members {
		if mb.Self && (mb.Activations == nil || *mb.Activations != 10) {
			t.Errorf("own activations %v, want 10", mb.Activations)
		}
	}
}

// TestQuantile checks the histogram quantile against hand-computed
// values.
func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4}
	for _, tt := range []struct {
		name    string
		q       float64
		buckets []float64
		count   float64
		want    float64
	}{
		{"none", .99, []float64{0, 0, 0}, 0, math.NaN()},
		{"all in first", .99, []float64{10, 10, 10}, 10, .99},
		{"in second", .5, []float64{0, 10, 10}, 10, 1.5},
		{"beyond the last bound", .99, []float64{0, 0, 0}, 10, 4},
		{"at a bucket's top", 1, []float64{5, 10, 10}, 10, 2},
		{"mismatched", .5, []float64{1}, 1, math.NaN()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := quantile(tt.q, bounds, tt.buckets, tt.count)
			if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("quantile = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRateBetweenReset: a counter that went back counts from zero, and
// no interval gives no rate.
func TestRateBetweenReset(t *testing.T) {
	a := capSample{calls: 500, errors: 50}
	b := capSample{calls: 20, errors: 2}
	if r := rateBetween(a, b, 2); r.callsPerSec != 10 || r.errorsPerSec != 1 {
		t.Errorf("after a reset: %+v", r)
	}
	if r := rateBetween(a, b, 0); r.callsPerSec != 0 || !math.IsNaN(r.p99) {
		t.Errorf("no interval: %+v", r)
	}
}

// BenchmarkDashboardRefresh measures one refresh at the bounds: 16
// capabilities called, five minutes of samples kept, 3 members and 16
// rings: the work the endpoint does every second (and every 2 s with a
// metrics sample, as here), once for all live pages.
func BenchmarkDashboardRefresh(b *testing.B) {
	f := dashNode()
	f.reg = prometheus.NewRegistry()
	m := newObsMetrics(f.reg)
	f.rings = nil
	for i := range maxDashCapabilities {
		c := "cap-" + strconv.Itoa(i)
		m.calls.WithLabelValues(c, "ok").Add(float64(i))
		m.latency.WithLabelValues(c).Observe(.001)
		f.rings = append(f.rings, RingInfo{Capability: c, Shards: 4096, Owners: map[string]int{"node-1": 2000, "node-2": 2096}})
	}
	d, now := clockedDashboard(f)
	ctx := context.Background()
	for range dashSamples {
		*now = now.Add(dashSampleEvery)
		d.refresh(ctx, false)
	}
	b.ReportAllocs()
	for b.Loop() {
		*now = now.Add(dashSampleEvery)
		m.calls.WithLabelValues("cap-0", "ok").Inc()
		d.refresh(ctx, false)
	}
	b.ReportMetric(float64(len(d.snap.Load().json)), "snapshot-bytes")
}

// TestJoinBounded: past the limit, the rest is counted, not listed.
func TestJoinBounded(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"a", "b", "c", "d"}, "a, b, c and 1 more"},
	} {
		if got := joinBounded(tt.names, 3); got != tt.want {
			t.Errorf("joinBounded(%v) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
