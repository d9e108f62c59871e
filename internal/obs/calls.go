package obs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// callStripes is how many latency histograms and ok counters one
// capability's calls are spread over, by the called ID's shard. With one of
// each, every call of every core updated the same few words (the
// histogram's count, its sum by a compare-and-swap loop, the ok counter),
// and the cores passed them back and forth: 5% of the samples of warm
// local calls on 2 cores, and more with more cores. A scrape sums the
// stripes.
const callStripes = 8

var (
	callsDesc = prometheus.NewDesc("mesh_calls_total",
		"Calls made through this node, by capability and outcome.", []string{"capability", "outcome"}, nil)
	latencyDesc = prometheus.NewDesc("mesh_call_duration_seconds",
		"Duration of calls made through this node, retries included, by capability.", []string{"capability"}, nil)
)

// callSeries are one capability's call metrics.
type callSeries struct {
	stripes [callStripes]struct {
		latency prometheus.Histogram
		ok      prometheus.Counter
	}
	// failed counts the calls of every outcome but OK; read-only once made.
	failed map[Outcome]prometheus.Counter
}

func newCallSeries() *callSeries {
	s := &callSeries{failed: make(map[Outcome]prometheus.Counter, len(callOutcomes))}
	for i := range s.stripes {
		// Unregistered: callCollector reports them, under its own names.
		s.stripes[i].latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stripe", Buckets: callBuckets})
		s.stripes[i].ok = prometheus.NewCounter(prometheus.CounterOpts{Name: "stripe"})
	}
	for _, o := range callOutcomes {
		if o != OK {
			s.failed[o] = prometheus.NewCounter(prometheus.CounterOpts{Name: "stripe"})
		}
	}
	return s
}

// record counts one call to an ID of shard that took d and ended with o.
func (s *callSeries) record(shard uint32, d time.Duration, o Outcome) {
	st := &s.stripes[shard%callStripes]
	st.latency.Observe(d.Seconds())
	count(st.ok, s.failed, o)
}

// collect reports the series under the capability label.
func (s *callSeries) collect(label string, ch chan<- prometheus.Metric) {
	var (
		pb    dto.Metric
		count uint64
		sum   float64
		ok    float64
	)
	buckets := make(map[float64]uint64, len(callBuckets))
	for i := range s.stripes {
		pb.Reset()
		if err := s.stripes[i].latency.Write(&pb); err == nil {
			h := pb.GetHistogram()
			count += h.GetSampleCount()
			sum += h.GetSampleSum()
			for _, b := range h.GetBucket() {
				buckets[b.GetUpperBound()] += b.GetCumulativeCount()
			}
		}
		ok += counterValue(s.stripes[i].ok, &pb)
	}
	ch <- prometheus.MustNewConstHistogram(latencyDesc, count, sum, buckets, label)
	ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.CounterValue, ok, label, string(OK))
	for _, o := range callOutcomes {
		if o != OK {
			ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.CounterValue, counterValue(s.failed[o], &pb), label, string(o))
		}
	}
}

// counterValue reads c, through pb.
func counterValue(c prometheus.Counter, pb *dto.Metric) float64 {
	pb.Reset()
	if err := c.Write(pb); err != nil {
		return 0
	}
	return pb.GetCounter().GetValue()
}

// callCollector reports mesh_calls_total and mesh_call_duration_seconds
// of every capability.
type callCollector struct{ m *Metrics }

func (callCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- callsDesc
	ch <- latencyDesc
}

func (c callCollector) Collect(ch chan<- prometheus.Metric) {
	if p := c.m.caps.Load(); p != nil {
		for _, cm := range *p {
			cm.calls.collect(cm.label, ch)
		}
	}
	if cm := c.m.other.Load(); cm != nil {
		cm.calls.collect(cm.label, ch)
	}
}
