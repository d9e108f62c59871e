package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds and periods of the dashboard's history.
const (
	// dashRefresh is how often the dashboard reads the node's view, and
	// how often a live page gets a snapshot.
	dashRefresh = time.Second
	// dashSampleEvery is how often it reads the node's metrics, and
	// dashSamples how many readings it keeps: five minutes.
	dashSampleEvery = 2 * time.Second
	dashSamples     = 150
	// dashRateWindow is the window of the calls/s, errors and p99 the
	// page shows for each capability.
	dashRateWindow = time.Minute
	// maxTimeline bounds the timeline's events, the oldest going first.
	maxTimeline = 256
	// maxDeparted bounds the members gone from the view that the page
	// still shows, as failed or left, for departedFor at most.
	maxDeparted = 32
	departedFor = 10 * time.Minute
	// peerPingEvery is how often, while a page is live, the dashboard
	// pings the members for their activation counts, within
	// peerPingTimeout.
	peerPingEvery   = 10 * time.Second
	peerPingTimeout = time.Second
)

// The states of a member gone from the view, as the dashboard shows it:
// "failed" if it went without draining first, "left" if it drained.
const (
	stateFailed = "failed"
	stateLeft   = "left"
)

// dashboard keeps what the dashboard shows: the latest snapshot of the
// node's view, and a bounded history of its metrics and of the changes
// seen between snapshots. refresh updates it; whoever holds mu does, and
// a refresh that finds mu held leaves it to the one in progress.
type dashboard struct {
	node Node
	now  func() time.Time
	// snap is the latest snapshot, with its JSON; nil before the first
	// refresh.
	snap atomic.Pointer[dashSnapshot]
	// viewers holds a token per live page (GET /dashboard/events).
	viewers chan struct{}
	// writeTimeout bounds the write of a snapshot to a live page:
	// dashWriteTimeout but in tests.
	writeTimeout time.Duration
	// done is closed by close: live pages end, run returns.
	done      chan struct{}
	closeOnce sync.Once

	mu sync.Mutex // guards the fields below
	// last is when the view was last read; sampled when the metrics
	// were.
	last, sampled time.Time
	// members is the view at the last refresh, by name; version its
	// routing version; rings its ring versions by capability.
	members map[string]MemberInfo
	version uint64
	rings   map[string]uint64
	// lastRings are the rings the node gave under routing version
	// ringsOf.
	lastRings []RingInfo
	ringsOf   uint64
	// departed are the members gone from the view, oldest first.
	departed []dashMember
	// timeline holds the events, oldest first.
	timeline []dashEvent
	// samples is a ring of the metrics readings, next the index of the
	// next to write, full once it wrapped.
	samples []metricSample
	next    int
	// peers are the members' activation counts from their last answer to
	// a ping, pinged when.
	peers  map[string]int64
	pinged time.Time
}

func newDashboard(n Node, now func() time.Time) *dashboard {
	return &dashboard{
		node: n, now: now, viewers: make(chan struct{}, maxDashViewers), writeTimeout: dashWriteTimeout, done: make(chan struct{}),
		samples: make([]metricSample, 0, dashSamples),
	}
}

// run refreshes the dashboard every dashRefresh until close, so that its
// history covers the time before a page was opened.
func (d *dashboard) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-d.done
		cancel()
	}()
	t := time.NewTicker(dashRefresh)
	defer t.Stop()
	for {
		d.refresh(ctx, false)
		select {
		case <-d.done:
			return
		case <-t.C:
		}
	}
}

// close ends the live pages and run. It is idempotent.
func (d *dashboard) close() { d.closeOnce.Do(func() { close(d.done) }) }

// snapshot returns the latest snapshot, refreshing first if it is due.
func (d *dashboard) snapshot(ctx context.Context) *dashSnapshot {
	d.refresh(ctx, d.snap.Load() == nil)
	return d.snap.Load()
}

// refresh reads the view, and the metrics if a sample is due, records the
// changes since the last refresh and publishes a new snapshot, unless one
// was made less than dashRefresh ago (a little less, so that a ticker's
// jitter does not skip one). It waits for a refresh in progress only if
// wait is set; otherwise it leaves the work to it.
func (d *dashboard) refresh(ctx context.Context, wait bool) {
	if wait {
		d.mu.Lock()
	} else if !d.mu.TryLock() {
		return
	}
	defer d.mu.Unlock()
	now := d.now()
	if !d.last.IsZero() && now.Sub(d.last) < dashRefresh*9/10 {
		return
	}
	d.last = now
	members := d.node.Members()
	version := d.node.RoutingVersion()
	// The routing version names the whole placement: the rings change
	// only with it. (Read after it, they may be newer than it: the next
	// version then reads them again.)
	if d.ringsOf != version || d.lastRings == nil {
		d.lastRings, d.ringsOf = d.node.Rings(), version
		if d.lastRings == nil {
			d.lastRings = []RingInfo{}
		}
	}
	rings := d.lastRings
	if d.sampled.IsZero() || now.Sub(d.sampled) >= dashSampleEvery*9/10 {
		d.sample(now)
	}
	if len(d.viewers) > 0 && now.Sub(d.pinged) >= peerPingEvery {
		d.pingPeers(ctx, now)
	}
	d.diff(now, members, version, rings)
	d.snap.Store(d.build(now, members, version, rings))
}

// sample reads the node's metrics into the ring of samples, and records
// the states handed off since the last sample.
func (d *dashboard) sample(now time.Time) {
	d.sampled = now
	families, err := d.node.Metrics().Gather()
	if err != nil && len(families) == 0 {
		return
	}
	s := readMetrics(now, families)
	if prev, ok := d.latest(); ok {
		if text := handoffSummary(prev.handoffs, s.handoffs); text != "" {
			d.record(dashEvent{At: now, Kind: "handoff", Detail: text})
		}
	}
	if len(d.samples) < dashSamples {
		d.samples = append(d.samples, s)
	} else {
		d.samples[d.next] = s
	}
	d.next = (d.next + 1) % dashSamples
}

// latest returns the last sample taken.
func (d *dashboard) latest() (metricSample, bool) {
	if len(d.samples) == 0 {
		return metricSample{}, false
	}
	return d.samples[(d.next+len(d.samples)-1)%len(d.samples)], true
}

// ordered returns the samples, oldest first.
func (d *dashboard) ordered() []metricSample {
	if len(d.samples) < dashSamples {
		return d.samples
	}
	return append(slices.Clone(d.samples[d.next:]), d.samples[:d.next]...)
}

// pingPeers pings every member for its activation count.
func (d *dashboard) pingPeers(ctx context.Context, now time.Time) {
	d.pinged = now
	ctx, cancel := context.WithTimeout(ctx, peerPingTimeout)
	defer cancel()
	peers := map[string]int64{}
	for _, p := range d.node.PingAll(ctx) {
		if p.Err == nil {
			peers[p.Node] = p.Activations
		}
	}
	d.peers = peers
}

// diff records in the timeline what changed since the last refresh:
// members that joined, changed state or went, and a new placement.
func (d *dashboard) diff(now time.Time, members []MemberInfo, version uint64, rings []RingInfo) {
	cur := make(map[string]MemberInfo, len(members))
	for _, m := range members {
		cur[m.Name] = m
	}
	ringVersions := make(map[string]uint64, len(rings))
	for _, r := range rings {
		ringVersions[r.Capability] = r.Version
	}
	defer func() { d.members, d.version, d.rings = cur, version, ringVersions }()
	if d.members == nil {
		d.record(dashEvent{At: now, Kind: "start", Detail: fmt.Sprintf("dashboard started: %d members, routing version %s",
			len(members), formatVersion(version))})
		return
	}
	for _, name := range slices.Sorted(maps.Keys(cur)) {
		m, was := cur[name], d.members[name]
		switch {
		case was.Name == "":
			d.record(dashEvent{At: now, Kind: "join", Subject: name, Detail: name + " joined (" + m.State + ")"})
			d.departed = slices.DeleteFunc(d.departed, func(g dashMember) bool { return g.Name == name })
		case was.State != m.State:
			d.record(dashEvent{At: now, Kind: m.State, Subject: name, Detail: name + ": " + was.State + " → " + m.State})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.members)) {
		if _, ok := cur[name]; ok {
			continue
		}
		was := d.members[name]
		g := memberOf(was, nil)
		g.Self, g.Since = false, now
		if was.State == "draining" {
			g.State = stateLeft
			d.record(dashEvent{At: now, Kind: "leave", Subject: name, Detail: name + " left after draining"})
		} else {
			g.State = stateFailed
			d.record(dashEvent{At: now, Kind: "failure", Subject: name, Detail: name + " is gone without draining (was " + was.State + ")"})
		}
		d.departed = append(d.departed, g)
	}
	d.departed = slices.DeleteFunc(d.departed, func(g dashMember) bool { return now.Sub(g.Since) > departedFor })
	if len(d.departed) > maxDeparted {
		d.departed = slices.Delete(d.departed, 0, len(d.departed)-maxDeparted)
	}
	if version != d.version {
		var changed []string
		for _, c := range slices.Sorted(maps.Keys(ringVersions)) {
			if old, ok := d.rings[c]; !ok || old != ringVersions[c] {
				changed = append(changed, c)
			}
		}
		for c := range d.rings {
			if _, ok := ringVersions[c]; !ok {
				changed = append(changed, c+" (gone)")
			}
		}
		sort.Strings(changed)
		detail := "routing version " + formatVersion(d.version) + " → " + formatVersion(version)
		if len(changed) > 0 {
			detail += "; rings changed: " + joinBounded(changed, 16)
		}
		d.record(dashEvent{At: now, Kind: "rebalance", Detail: detail})
	}
}

// record appends e to the timeline, dropping the oldest beyond
// maxTimeline.
func (d *dashboard) record(e dashEvent) {
	if len(d.timeline) >= maxTimeline {
		d.timeline = slices.Delete(d.timeline, 0, len(d.timeline)-maxTimeline+1)
	}
	d.timeline = append(d.timeline, e)
}

// joinBounded joins the first limit of names with ", ", and says how
// many more there are.
func joinBounded(names []string, limit int) string {
	if len(names) <= limit {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:limit], ", "), len(names)-limit)
}

// build makes the snapshot of now.
func (d *dashboard) build(now time.Time, members []MemberInfo, version uint64, rings []RingInfo) *dashSnapshot {
	s := &dashSnapshot{
		Node: d.node.Name(), At: now, RoutingVersion: formatVersion(version),
		Window: dashRateWindow.String(), History: (dashSamples * dashSampleEvery).String(),
	}
	own := int64(-1)
	if l, ok := d.latest(); ok {
		own = int64(l.activations)
		s.CapabilitiesTruncated = l.truncated
	}
	for _, m := range members {
		var acts *int64
		if m.Self && own >= 0 {
			acts = &own
		} else if v, ok := d.peers[m.Name]; ok {
			acts = &v
		}
		dm := memberOf(m, acts)
		dm.LastSeenAgo = seconds(now.Sub(m.LastSeen))
		s.Members = append(s.Members, dm)
	}
	s.Members = append(s.Members, d.departed...)
	if s.Members == nil {
		s.Members = []dashMember{}
	}
	s.Rings = []dashRing{}
	for _, r := range rings {
		dr := dashRing{Capability: r.Capability, Version: formatVersion(r.Version), Shards: r.Shards}
		for _, name := range slices.Sorted(maps.Keys(r.Owners)) {
			dr.Owners = append(dr.Owners, dashOwner{Node: name, Shards: r.Owners[name]})
		}
		s.Rings = append(s.Rings, dr)
	}
	s.SeriesAt, s.Calls = d.callStats()
	s.Timeline = make([]dashEvent, len(d.timeline))
	for i, e := range d.timeline {
		s.Timeline[len(d.timeline)-1-i] = e
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Only NaN or infinities could fail it, and callStats writes none.
		b = []byte(`{}`)
	}
	s.json = b
	return s
}

// callStats is, per capability, the history of its calls from the
// samples, at the times it returns, and their rates over the last
// dashRateWindow.
func (d *dashboard) callStats() ([]int64, []dashCalls) {
	samples := d.ordered()
	out := []dashCalls{}
	at := []int64{}
	if len(samples) < 2 {
		return at, out
	}
	for _, s := range samples[1:] {
		at = append(at, s.at.UnixMilli())
	}
	last := samples[len(samples)-1]
	// first is the oldest sample within the window, and at least the one
	// before the last.
	first := len(samples) - 2
	for first > 0 && last.at.Sub(samples[first-1].at) <= dashRateWindow {
		first--
	}
	for _, c := range slices.Sorted(maps.Keys(last.caps)) {
		w := rateBetween(samples[first].caps[c], last.caps[c], last.at.Sub(samples[first].at).Seconds())
		dc := dashCalls{
			Capability: c, CallsPerSec: round3(w.callsPerSec), ErrorsPerSec: round3(w.errorsPerSec), Errors: w.errors,
			P99Ms:        msOrNil(w.p99),
			SeriesCalls:  make([]float64, 0, len(at)),
			SeriesErrors: make([]float64, 0, len(at)),
			SeriesP99Ms:  make([]*float64, 0, len(at)),
		}
		for i := 1; i < len(samples); i++ {
			a, b := samples[i-1], samples[i]
			r := rateBetween(a.caps[c], b.caps[c], b.at.Sub(a.at).Seconds())
			dc.SeriesCalls = append(dc.SeriesCalls, round3(r.callsPerSec))
			dc.SeriesErrors = append(dc.SeriesErrors, round3(r.errorsPerSec))
			dc.SeriesP99Ms = append(dc.SeriesP99Ms, msOrNil(r.p99))
		}
		out = append(out, dc)
	}
	return at, out
}

// msOrNil is a duration in seconds as milliseconds, or nil for NaN.
func msOrNil(secs float64) *float64 {
	if math.IsNaN(secs) || math.IsInf(secs, 0) {
		return nil
	}
	v := round3(secs * 1e3)
	return &v
}

// round3 rounds v to three decimals.
func round3(v float64) float64 { return math.Round(v*1e3) / 1e3 }

// memberOf is m as the dashboard shows it, with its activation count if
// known.
func memberOf(m MemberInfo, acts *int64) dashMember {
	caps := m.Capabilities
	if caps == nil {
		caps = []string{}
	}
	labels := m.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return dashMember{Name: m.Name, Self: m.Self, State: m.State, Capabilities: caps, Labels: labels, Activations: acts}
}
