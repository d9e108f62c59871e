package admin

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The metric families the dashboard reads, as package internal/obs of
// mesh names them.
const (
	familyCalls       = "mesh_calls_total"
	familyLatency     = "mesh_call_duration_seconds"
	familyHandoffs    = "mesh_handoffs_total"
	familyActivations = "mesh_activations"
)

// maxDashCapabilities bounds the capabilities whose calls the dashboard
// keeps a history of (the first, by name): the node's metrics have series
// for up to 256 of them and "other", and each costs a history in every
// snapshot sent to every live page (about 3 KB).
const maxDashCapabilities = 16

// capSample is what the metrics said of one capability's calls at one
// moment: cumulative counts.
type capSample struct {
	calls, errors float64
	// bounds are the histogram's upper bounds (+Inf excluded), buckets
	// the cumulative count at each, count the observations in all.
	bounds  []float64
	buckets []float64
	count   float64
}

// metricSample is one reading of the node's metrics.
type metricSample struct {
	at   time.Time
	caps map[string]capSample
	// handoffs counts handed-off states by capability and result.
	handoffs map[[2]string]float64
	// activations is the node's own count of active processes.
	activations float64
	truncated   bool
}

// readMetrics reads a metricSample out of gathered families.
func readMetrics(at time.Time, families []*dto.MetricFamily) metricSample {
	s := metricSample{at: at, caps: map[string]capSample{}, handoffs: map[[2]string]float64{}}
	var calls, latency *dto.MetricFamily
	for _, f := range families {
		switch f.GetName() {
		case familyCalls:
			calls = f
		case familyLatency:
			latency = f
		case familyHandoffs:
			for _, m := range f.GetMetric() {
				key := [2]string{label(m, "capability"), label(m, "result")}
				s.handoffs[key] += m.GetCounter().GetValue()
			}
		case familyActivations:
			for _, m := range f.GetMetric() {
				s.activations += m.GetGauge().GetValue()
			}
		}
	}
	// Which capabilities: the first maxDashCapabilities by name of those
	// with calls counted.
	var names []string
	if calls != nil {
		for _, m := range calls.GetMetric() {
			c := label(m, "capability")
			cs := s.caps[c]
			v := m.GetCounter().GetValue()
			cs.calls += v
			if label(m, "outcome") != "ok" {
				cs.errors += v
			}
			s.caps[c] = cs
		}
		for c := range s.caps {
			names = append(names, c)
		}
		sort.Strings(names)
		if len(names) > maxDashCapabilities {
			for _, c := range names[maxDashCapabilities:] {
				delete(s.caps, c)
			}
			s.truncated = true
		}
	}
	if latency != nil {
		for _, m := range latency.GetMetric() {
			c := label(m, "capability")
			cs, ok := s.caps[c]
			if !ok {
				continue
			}
			h := m.GetHistogram()
			cs.count = float64(h.GetSampleCount())
			cs.bounds, cs.buckets = cs.bounds[:0], cs.buckets[:0]
			for _, b := range h.GetBucket() {
				if math.IsInf(b.GetUpperBound(), +1) {
					continue
				}
				cs.bounds = append(cs.bounds, b.GetUpperBound())
				cs.buckets = append(cs.buckets, float64(b.GetCumulativeCount()))
			}
			s.caps[c] = cs
		}
	}
	return s
}

// label returns the value of m's label name, or "".
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// delta is how much a counter grew from a to b: b itself if it went back
// (a counter that restarted from zero).
func delta(a, b float64) float64 {
	if b < a {
		return b
	}
	return b - a
}

// capRate is what one capability's calls did between two samples.
type capRate struct {
	callsPerSec, errorsPerSec float64
	errors                    float64
	// p99 is the 99th percentile of the calls' durations, in seconds, or
	// NaN if no call ended between the samples.
	p99 float64
}

// rateBetween is what c's calls did from sample a to sample b.
func rateBetween(a, b capSample, secs float64) capRate {
	r := capRate{p99: math.NaN()}
	if secs <= 0 {
		return r
	}
	calls, errs := delta(a.calls, b.calls), delta(a.errors, b.errors)
	r.callsPerSec, r.errorsPerSec, r.errors = calls/secs, errs/secs, errs
	if len(b.bounds) == 0 {
		return r
	}
	buckets := make([]float64, len(b.buckets))
	count := delta(a.count, b.count)
	for i := range b.buckets {
		if len(a.buckets) == len(b.buckets) && a.count <= b.count {
			buckets[i] = b.buckets[i] - a.buckets[i]
		} else {
			buckets[i] = b.buckets[i]
		}
	}
	r.p99 = quantile(0.99, b.bounds, buckets, count)
	return r
}

// quantile estimates the q-quantile of observations counted in
// cumulative buckets with upper bounds bounds (the +Inf bucket being
// count), interpolating linearly inside the bucket it falls in, as
// Prometheus's histogram_quantile does. It is NaN without observations,
// and the highest finite bound if the quantile falls beyond it.
func quantile(q float64, bounds, buckets []float64, count float64) float64 {
	if count <= 0 || len(bounds) == 0 || len(bounds) != len(buckets) {
		return math.NaN()
	}
	rank := q * count
	i := sort.Search(len(buckets), func(i int) bool { return buckets[i] >= rank })
	if i == len(buckets) {
		return bounds[len(bounds)-1]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bounds[i-1], buckets[i-1]
	}
	in := buckets[i] - below
	if in <= 0 {
		return bounds[i]
	}
	return lower + (bounds[i]-lower)*(rank-below)/in
}

// handoffSummary describes the handed-off states counted from a to b,
// such as "room: sent 12, restored 3", or "" if none.
func handoffSummary(a, b map[[2]string]float64) string {
	byCap := map[string][]string{}
	keys := make([][2]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]string) int {
		if c := strings.Compare(x[0], y[0]); c != 0 {
			return c
		}
		return strings.Compare(x[1], y[1])
	})
	var caps []string
	for _, k := range keys {
		d := delta(a[k], b[k])
		if d <= 0 {
			continue
		}
		if _, ok := byCap[k[0]]; !ok {
			caps = append(caps, k[0])
		}
		byCap[k[0]] = append(byCap[k[0]], k[1]+" "+formatCount(d))
	}
	var parts []string
	for _, c := range caps {
		parts = append(parts, c+": "+strings.Join(byCap[c], ", "))
	}
	return strings.Join(parts, "; ")
}

// formatCount writes a counter's delta, a whole number.
func formatCount(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
