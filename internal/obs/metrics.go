package obs

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/shard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcome is how a call or cast ended: the outcome label of
// mesh_calls_total and mesh_casts_total.
type Outcome string

// The outcomes. The node maps each error a call or cast can end with to
// one of them.
const (
	OK            Outcome = "ok"
	ProcessError  Outcome = "process_error"  // the process returned an error
	ProcessFailed Outcome = "process_failed" // the process panicked
	Deadline      Outcome = "deadline"       // no reply by the deadline
	Unreachable   Outcome = "unreachable"    // the owner could not be reached
	Canceled      Outcome = "canceled"       // the caller cancelled
	NoNode        Outcome = "no_node"        // no node offers the capability
	BadPayload    Outcome = "bad_payload"    // a payload or reply did not encode or decode
	Invalid       Outcome = "invalid"        // the owner refused the request
	Closed        Outcome = "closed"         // this node is closing
	Overloaded    Outcome = "overloaded"     // the owner or the process took no more
	Store         Outcome = "store"          // the store could not load the process's state
	NoQuorum      Outcome = "no_quorum"      // a node without a majority in sight refused
	Partial       Outcome = "partial"        // a broadcast that some node offering the capability did not take
	Other         Outcome = "error"          // anything else
)

var (
	callOutcomes = []Outcome{OK, ProcessError, ProcessFailed, Deadline, Unreachable, Canceled, NoNode, BadPayload, Invalid, Closed, Overloaded, Store, NoQuorum, Other}
	castOutcomes = []Outcome{OK, Deadline, Canceled, NoNode, Unreachable, BadPayload, Overloaded, NoQuorum, Other}
)

// maxCapabilityLabels bounds the capabilities that get series of their
// own; calls to further capabilities are counted under "other", so a
// client calling made-up names cannot blow up the series count.
const maxCapabilityLabels = 256

// otherCapability is the capability label beyond maxCapabilityLabels.
const otherCapability = "other"

// invalidCapability is the label of requests that name no valid
// capability: a name is the caller's text, and a label must be UTF-8.
const invalidCapability = "(invalid)"

// callBuckets are the bounds, in seconds, of the call latency histogram:
// from a local call's tens of microseconds to the default 5 s timeout.
var callBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is one node's Prometheus metrics, in a registry of its own so
// that several nodes can live in one process.
type Metrics struct {
	reg *prometheus.Registry

	casts      *prometheus.CounterVec
	started    *prometheus.CounterVec
	stopped    *prometheus.CounterVec
	rebalances prometheus.Counter
	moved      *prometheus.CounterVec
	// misaddressed counts envelopes refused for naming another incarnation
	// or another activation.
	misaddressed prometheus.Counter
	// handoffs counts processes' states handed off, by capability and
	// result.
	handoffs *prometheus.CounterVec
	// stored counts store operations for processes, by capability and
	// result.
	stored *prometheus.CounterVec
	// broadcasts counts broadcasts, by capability and outcome;
	// broadcastDelivered the processes they were handed to.
	broadcasts         *prometheus.CounterVec
	broadcastDelivered *prometheus.CounterVec

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
	label   string
	calls   *callSeries
	casts   map[Outcome]prometheus.Counter
	castsOK prometheus.Counter
	started prometheus.Counter
}

// NewMetrics returns the metrics of the node that state describes.
func NewMetrics(state State) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		casts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_casts_total", Help: "Casts made through this node, by capability and outcome (ok: handed on).",
		}, []string{"capability", "outcome"}),
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
	m.handoffs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mesh_handoffs_total",
		Help: "States of moved processes, by capability and result: sent and lost (by the old owner), restored, refused (the process would not take it), merged (it had already served messages and merged the state: actor.Merger), conflict (it had already served messages and did not merge: the state was dropped), failed (it could not snapshot).",
	}, []string{"capability", "result"})
	m.stored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mesh_store_operations_total",
		Help: "Loads and saves of processes' states in the node's store, by capability and result: loaded, saved, stale (a stale activation's save, refused), refused (the process could not restore the stored state: its messages fail with ErrStore and the state is kept), failed.",
	}, []string{"capability", "result"})
	m.broadcasts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mesh_broadcasts_total",
		Help: "Broadcasts made through this node, by capability and outcome (ok: every node offering the capability took it; partial: some did not).",
	}, []string{"capability", "outcome"})
	m.broadcastDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mesh_broadcast_deliveries_total",
		Help: "Processes that broadcasts made through this node were handed to, on every node, by capability.",
	}, []string{"capability"})
	m.reg.MustRegister(m.handoffs, m.stored, m.broadcasts, m.broadcastDelivered, callCollector{m}, m.casts, m.started, m.stopped, m.rebalances, m.moved, m.misaddressed,
		&nodeCollector{state: state},
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
func (m *Metrics) capability(c string) *capMetrics {
	if p := m.caps.Load(); p != nil {
		if cm := (*p)[c]; cm != nil {
			return cm
		}
	}
	if capability.ValidateTarget(c) != nil {
		c = invalidCapability
		if p := m.caps.Load(); p != nil {
			if cm := (*p)[c]; cm != nil {
				return cm
			}
		}
	} else if cm := m.other.Load(); cm != nil {
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
func (m *Metrics) newCapMetrics(label string) *capMetrics {
	cm := &capMetrics{
		label:   label,
		calls:   newCallSeries(),
		casts:   make(map[Outcome]prometheus.Counter, len(castOutcomes)),
		started: m.started.WithLabelValues(label),
	}
	for _, o := range castOutcomes {
		cm.casts[o] = m.casts.WithLabelValues(label, string(o))
	}
	cm.castsOK = cm.casts[OK]
	return cm
}

// Called records one call to an ID of shard that took d and ended with o.
func (m *Metrics) Called(capability string, shard uint32, d time.Duration, o Outcome) {
	m.capability(capability).calls.record(shard, d, o)
}

// Cast records one cast that ended with o.
func (m *Metrics) Cast(capability string, o Outcome) {
	cm := m.capability(capability)
	count(cm.castsOK, cm.casts, o)
}

// Broadcast records one broadcast that ended with o, handed to processes
// processes.
func (m *Metrics) Broadcast(capability string, o Outcome, processes int) {
	label := m.capability(capability).label
	m.broadcasts.WithLabelValues(label, string(o)).Inc()
	if processes > 0 {
		m.broadcastDelivered.WithLabelValues(label).Add(float64(processes))
	}
}

// count adds one to the counter of outcome o: ok, the common case,
// without a map read; an outcome without a series of its own counts as
// Other.
func count(ok prometheus.Counter, by map[Outcome]prometheus.Counter, o Outcome) {
	if o == OK {
		ok.Inc()
		return
	}
	c, found := by[o]
	if !found {
		c = by[Other]
	}
	c.Inc()
}

// Hooks are the activation table's hooks that feed the metrics.
func (m *Metrics) Hooks() activation.Hooks {
	return activation.Hooks{
		Started:      func(c string) { m.capability(c).started.Inc() },
		Stopped:      func(c string, reason actor.StopReason) { m.stopped.WithLabelValues(c, reason.String()).Inc() },
		Misaddressed: m.misaddressed.Inc,
		Handoff:      func(c, result string) { m.Handoff(c, result, 1) },
		Store:        func(c, result string) { m.stored.WithLabelValues(c, result).Inc() },
	}
}

// Handoff counts n states of capability handed off with result. Only
// capabilities this node hosts are counted, so their number bounds the
// series.
func (m *Metrics) Handoff(capability, result string, n int) {
	if n > 0 {
		m.handoffs.WithLabelValues(capability, result).Add(float64(n))
	}
}

// Rebalanced records a placement change from prev to next.
func (m *Metrics) Rebalanced(prev, next *shard.Table) {
	m.rebalances.Inc()
	for _, c := range next.Capabilities() {
		if old := prev.Ring(c); old != nil {
			if moved := len(next.Ring(c).Moved(old)); moved > 0 {
				m.moved.WithLabelValues(c).Add(float64(moved))
			}
		}
	}
}

// State is what the node holds now, read at scrape time.
type State struct {
	// Name is the node's name.
	Name string
	// Activations returns the number of activations of each capability.
	Activations func() map[string]int
	// Members returns the number of members in each state (alive,
	// suspect, draining); every state is present, with 0 if none.
	Members func() map[string]int
	// Sent returns the frames the node's transport has sent and the
	// messages they carried.
	Sent func() (frames, messages int64)
}

// nodeCollector reports, at scrape time, what the node holds now: its
// activations and its members by state.
type nodeCollector struct{ state State }

var (
	activationsDesc = prometheus.NewDesc("mesh_activations", "Processes active on this node, by capability.", []string{"capability"}, nil)
	membersDesc     = prometheus.NewDesc("mesh_members", "Members of the cluster as this node sees them, by state (alive, suspect, draining).", []string{"state"}, nil)
	nodeInfoDesc    = prometheus.NewDesc("mesh_node_info", "Always 1; names the node.", []string{"node"}, nil)
	framesDesc      = prometheus.NewDesc("mesh_transport_frames_total",
		"Frames this node has sent to other nodes; mesh_transport_messages_total over it is how many messages a frame carries.", nil, nil)
	messagesDesc = prometheus.NewDesc("mesh_transport_messages_total", "Messages this node has sent to other nodes.", nil, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activationsDesc
	ch <- membersDesc
	ch <- nodeInfoDesc
	ch <- framesDesc
	ch <- messagesDesc
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(nodeInfoDesc, prometheus.GaugeValue, 1, c.state.Name)
	if c.state.Activations != nil {
		for capability, count := range c.state.Activations() {
			ch <- prometheus.MustNewConstMetric(activationsDesc, prometheus.GaugeValue, float64(count), capability)
		}
	}
	if c.state.Members != nil {
		for state, count := range c.state.Members() {
			ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(count), state)
		}
	}
	if c.state.Sent != nil {
		frames, messages := c.state.Sent()
		ch <- prometheus.MustNewConstMetric(framesDesc, prometheus.CounterValue, float64(frames))
		ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(messages))
	}
}

// Registry returns the node's registry, to serve or gather its metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
