package mesh

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/shard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// outcome labels of mesh_calls_total and mesh_casts_total.
const (
	outcomeOK            = "ok"
	outcomeProcessError  = "process_error"  // the process returned an error
	outcomeProcessFailed = "process_failed" // the process panicked
	outcomeDeadline      = "deadline"       // no reply by the deadline
	outcomeUnreachable   = "unreachable"    // the owner could not be reached
	outcomeCanceled      = "canceled"       // the caller cancelled
	outcomeNoNode        = "no_node"        // no node offers the capability
	outcomeBadPayload    = "bad_payload"    // a payload or reply did not encode or decode
	outcomeInvalid       = "invalid"        // the owner refused the request
	outcomeClosed        = "closed"         // this node is closing
	outcomeError         = "error"          // anything else
)

var (
	callOutcomes = []string{outcomeOK, outcomeProcessError, outcomeProcessFailed, outcomeDeadline,
		outcomeUnreachable, outcomeCanceled, outcomeNoNode, outcomeBadPayload, outcomeInvalid, outcomeClosed, outcomeError}
	castOutcomes = []string{outcomeOK, outcomeDeadline, outcomeCanceled, outcomeNoNode, outcomeUnreachable, outcomeBadPayload, outcomeError}
)

// maxCapabilityLabels bounds the capabilities that get series of their
// own; calls to further capabilities are counted under "other", so a
// client calling made-up names cannot blow up the series count.
const maxCapabilityLabels = 256

// otherCapability is the capability label beyond maxCapabilityLabels.
const otherCapability = "other"

// callBuckets are the bounds, in seconds, of the call latency histogram:
// from a local call's tens of microseconds to the default 5 s timeout.
var callBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metrics is one node's Prometheus metrics, in a registry of its own so that
// several nodes can live in one process.
type metrics struct {
	reg *prometheus.Registry

	calls      *prometheus.CounterVec
	casts      *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	started    *prometheus.CounterVec
	stopped    *prometheus.CounterVec
	rebalances prometheus.Counter
	moved      *prometheus.CounterVec
	// misaddressed counts envelopes refused for naming another incarnation
	// or another activation.
	misaddressed prometheus.Counter

	// caps holds each capability's metric children, so that a call finds
	// them with one map read and no label hashing. Copy on write.
	caps atomic.Pointer[map[string]*capMetrics]
	// other counts the capabilities past maxCapabilityLabels; nil until
	// the first of them.
	other atomic.Pointer[capMetrics]
	capMu sync.Mutex // serialises additions to caps and other
}

// capMetrics are the children of one capability.
type capMetrics struct {
	calls   map[string]prometheus.Counter // by outcome
	callsOK prometheus.Counter
	casts   map[string]prometheus.Counter
	castsOK prometheus.Counter
	latency prometheus.Observer
	started prometheus.Counter
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_calls_total", Help: "Calls made through this node, by capability and outcome.",
		}, []string{"capability", "outcome"}),
		casts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_casts_total", Help: "Casts made through this node, by capability and outcome (ok: handed on).",
		}, []string{"capability", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mesh_call_duration_seconds", Help: "Duration of calls made through this node, retries included, by capability.",
			Buckets: callBuckets,
		}, []string{"capability"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_activations_started_total", Help: "Activations made on this node, by capability.",
		}, []string{"capability"}),
		stopped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_activations_stopped_total",
			Help: "Activations stopped on this node, by capability and reason (moved, unregistered, closing).",
		}, []string{"capability", "reason"}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mesh_rebalances_total", Help: "Placement changes this node has applied.",
		}),
		moved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_shards_moved_total", Help: "Shards whose owner changed in the placement changes this node applied, by capability.",
		}, []string{"capability"}),
	}
	m.misaddressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mesh_misaddressed_total",
		Help: "Messages refused (redirected) by an activation of this node because they named another incarnation of the node or another process: PIDs cached before a restart.",
	})
	m.reg.MustRegister(m.calls, m.casts, m.latency, m.started, m.stopped, m.rebalances, m.moved, m.misaddressed,
		&nodeCollector{n: n},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// capability returns the metric children of capability c. It takes capMu
// only to add a capability while there is room for its series: once the
// room is used up, every capability without series of its own is counted
// under "other" without a lock, so that calls naming made-up capabilities
// do not serialise on it.
func (m *metrics) capability(c string) *capMetrics {
	if p := m.caps.Load(); p != nil {
		if cm := (*p)[c]; cm != nil {
			return cm
		}
	}
	if cm := m.other.Load(); cm != nil {
		return cm
	}
	m.capMu.Lock()
	defer m.capMu.Unlock()
	old := map[string]*capMetrics{}
	if p := m.caps.Load(); p != nil {
		old = *p
	}
	if cm := old[c]; cm != nil {
		return cm
	}
	if len(old) >= maxCapabilityLabels {
		cm := m.newCapMetrics(otherCapability)
		m.other.Store(cm)
		return cm
	}
	cm := m.newCapMetrics(c)
	next := make(map[string]*capMetrics, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[c] = cm
	m.caps.Store(&next)
	return cm
}

// newCapMetrics returns the metric children of the capability label.
func (m *metrics) newCapMetrics(label string) *capMetrics {
	cm := &capMetrics{
		calls:   make(map[string]prometheus.Counter, len(callOutcomes)),
		casts:   make(map[string]prometheus.Counter, len(castOutcomes)),
		latency: m.latency.WithLabelValues(label),
		started: m.started.WithLabelValues(label),
	}
	for _, o := range callOutcomes {
		cm.calls[o] = m.calls.WithLabelValues(label, o)
	}
	for _, o := range castOutcomes {
		cm.casts[o] = m.casts.WithLabelValues(label, o)
	}
	cm.callsOK, cm.castsOK = cm.calls[outcomeOK], cm.casts[outcomeOK]
	return cm
}

// called records one call that took d and ended with err.
func (m *metrics) called(capability string, d time.Duration, err error) {
	cm := m.capability(capability)
	cm.latency.Observe(d.Seconds())
	if err == nil {
		cm.callsOK.Inc()
		return
	}
	cm.calls[outcomeOf(err)].Inc()
}

// cast records one cast that ended with err.
func (m *metrics) cast(capability string, err error) {
	cm := m.capability(capability)
	if err == nil {
		cm.castsOK.Inc()
		return
	}
	o := outcomeOf(err)
	c, ok := cm.casts[o]
	if !ok {
		c = cm.casts[outcomeError]
	}
	c.Inc()
}

// outcomeOf classifies the error of a call or cast.
func outcomeOf(err error) string {
	var pe *ProcessError
	switch {
	case err == nil:
		return outcomeOK
	case errors.As(err, &pe):
		return outcomeProcessError
	case errors.Is(err, ErrProcessFailed):
		return outcomeProcessFailed
	case errors.Is(err, ErrUnreachable):
		return outcomeUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeDeadline
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, ErrNoNode):
		return outcomeNoNode
	case errors.Is(err, ErrBadPayload):
		return outcomeBadPayload
	case errors.Is(err, ErrInvalidRequest):
		return outcomeInvalid
	case errors.Is(err, ErrClosed):
		return outcomeClosed
	}
	return outcomeError
}

// hooks are the activation table's hooks that feed the metrics.
func (m *metrics) hooks() activation.Hooks {
	return activation.Hooks{
		Started:      func(c string) { m.capability(c).started.Inc() },
		Stopped:      func(c string, reason actor.StopReason) { m.stopped.WithLabelValues(c, reason.String()).Inc() },
		Misaddressed: m.misaddressed.Inc,
	}
}

// rebalanced records a placement change from prev to next.
func (m *metrics) rebalanced(prev, next *shard.Table) {
	m.rebalances.Inc()
	for _, c := range next.Capabilities() {
		if old := prev.Ring(c); old != nil {
			if moved := len(next.Ring(c).Moved(old)); moved > 0 {
				m.moved.WithLabelValues(c).Add(float64(moved))
			}
		}
	}
}

// nodeCollector reports, at scrape time, what the node holds now: its
// activations and its members by state.
type nodeCollector struct{ n *Node }

var (
	activationsDesc = prometheus.NewDesc("mesh_activations", "Processes active on this node, by capability.", []string{"capability"}, nil)
	membersDesc     = prometheus.NewDesc("mesh_members", "Members of the cluster as this node sees them, by state (alive, suspect, draining).", []string{"state"}, nil)
	nodeInfoDesc    = prometheus.NewDesc("mesh_node_info", "Always 1; names the node.", []string{"node"}, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activationsDesc
	ch <- membersDesc
	ch <- nodeInfoDesc
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(nodeInfoDesc, prometheus.GaugeValue, 1, c.n.name)
	for capability, count := range c.n.table.Counts() {
		ch <- prometheus.MustNewConstMetric(activationsDesc, prometheus.GaugeValue, float64(count), capability)
	}
	states := map[MemberState]int{MemberAlive: 0, MemberSuspect: 0, MemberDraining: 0}
	for _, m := range c.n.Members() {
		states[m.State]++
	}
	for state, count := range states {
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(count), string(state))
	}
}

// Metrics returns the node's Prometheus metrics, for serving them other
// than on the admin endpoint's /metrics. Each node has a registry of its
// own.
func (n *Node) Metrics() prometheus.Gatherer { return n.metrics.reg }
