package obs

import (
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestCallStripesSumAtScrape: calls recorded on every stripe are reported
// as one series per capability and outcome, and one histogram whose
// count, sum and buckets are those of all the calls.
func TestCallStripesSumAtScrape(t *testing.T) {
	m := NewMetrics(State{})
	const n = 3 * callStripes
	for shard := range uint32(n) {
		m.Called("chat", shard, time.Millisecond, OK)
		m.Called("chat", shard, time.Second, Deadline)
	}
	m.Called("chat", 5, time.Millisecond, Partial) // no series of its own: counted as error
	m.Called("room", 1, 20*time.Microsecond, OK)

	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[[2]string]float64{}
	hists := map[string]*dto.Histogram{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "mesh_calls_total":
				calls[[2]string{labels["capability"], labels["outcome"]}] = mt.GetCounter().GetValue()
			case "mesh_call_duration_seconds":
				hists[labels["capability"]] = mt.GetHistogram()
			}
		}
	}
	for key, want := range map[[2]string]float64{
		{"chat", "ok"}: n, {"chat", "deadline"}: n, {"chat", "error"}: 1, {"chat", "no_node"}: 0, {"room", "ok"}: 1,
	} {
		if got, ok := calls[key]; !ok || got != want {
			t.Errorf("mesh_calls_total%v = %v (reported: %v), want %v", key, got, ok, want)
		}
	}
	h := hists["chat"]
	if h == nil {
		t.Fatal("no histogram for chat")
	}
	if got := h.GetSampleCount(); got != 2*n+1 {
		t.Errorf("histogram count %d, want %d", got, 2*n+1)
	}
	if want := (n+1)*0.001 + n*1.0; math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("histogram sum %v, want %v", h.GetSampleSum(), want)
	}
	for _, b := range h.GetBucket() {
		var want uint64
		switch {
		case b.GetUpperBound() >= 1:
			want = 2*n + 1
		case b.GetUpperBound() >= 0.001:
			want = n + 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if got := hists["room"].GetSampleCount(); got != 1 {
		t.Errorf("room's histogram counts %d calls, want 1", got)
	}
}
