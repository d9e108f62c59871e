package mesh

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemberState is a member's health as one node sees it.
type MemberState string

const (
	// MemberAlive is a member that answers.
	MemberAlive MemberState = "alive"
	// MemberSuspect is a member this node has not heard from for several
	// probe rounds; see Node.Members. It still owns its shards.
	MemberSuspect MemberState = "suspect"
	// MemberDraining is a member that is leaving gracefully: it owns no
	// shards and redirects what still reaches it.
	MemberDraining MemberState = "draining"
)

// Cluster states reported by Node.Status.
const (
	// StatusRunning means nothing is known to be wrong.
	StatusRunning = "running"
	// StatusDegraded means at least one Reason applies.
	StatusDegraded = "degraded"
)

// Kinds of StatusReason.
const (
	// ReasonCapabilityUnavailable: a capability that some member offered
	// while this node watched is offered by no member now.
	ReasonCapabilityUnavailable = "capability_unavailable"
	// ReasonCapabilityUnplaced: members offer a capability but none may
	// own its shards: none that offers it carries the labels it requires
	// (Capability.Requires), or all of those drain. Calls to it fail with
	// ErrNoOwner; the detail says why each member is off its ring.
	ReasonCapabilityUnplaced = "capability_unplaced"
	// ReasonMemberFailed: a member left without draining (it crashed or
	// was cut off) and has not come back.
	ReasonMemberFailed = "member_failed"
	// ReasonMemberSuspect: a member has not acknowledged probes for
	// several rounds.
	ReasonMemberSuspect = "member_suspect"
	// ReasonMemberUnreachable: a member did not answer a ping through the
	// mesh in time.
	ReasonMemberUnreachable = "member_unreachable"
	// ReasonRoutingDisagreement: members route by different placements.
	ReasonRoutingDisagreement = "routing_disagreement"
	// ReasonDraining: a member is leaving.
	ReasonDraining = "draining"
)

// lossMemory is how long a node reports a member that failed, or a
// capability that vanished, unless it comes back first.
const lossMemory = 5 * time.Minute

// statusPingTimeout bounds each ping Status sends.
const statusPingTimeout = time.Second

// ClusterStatus is the health of the cluster as one node sees it.
type ClusterStatus struct {
	// Status is StatusRunning or StatusDegraded.
	Status string
	// Reasons says why the cluster is degraded, sorted by kind and
	// subject; empty when it is running.
	Reasons []StatusReason
	// Node is the node that answered, and RoutingVersion its placement.
	Node           string
	RoutingVersion uint64
	// Members counts the members by state.
	Members map[MemberState]int
	// RoutingVersions is the placement every member that answered a ping
	// routes by, by member name.
	RoutingVersions map[string]uint64
	// CheckedAt is when the status was taken.
	CheckedAt time.Time
}

// StatusReason is one reason a cluster is degraded.
type StatusReason struct {
	// Kind is one of the Reason* constants.
	Kind string
	// Subject is the member or capability concerned; empty for the
	// cluster as a whole.
	Subject string
	// Detail is a sentence for operators.
	Detail string
}

// healthLog remembers what disappeared from the cluster while this node
// watched: members that failed and capabilities no member offers any more.
type healthLog struct {
	mu sync.Mutex // guards failed, gone
	// failed maps a member that left without draining to when it did.
	failed map[string]time.Time
	// gone maps a capability no member offers to when it went and the
	// members that offered it last.
	gone map[string]goneCapability
}

type goneCapability struct {
	since time.Time
	by    []string
}

// observe records what changed between two routing snapshots: members that
// vanished without draining, members that are back, capabilities that lost
// their last member or found one again.
func (h *healthLog) observe(prev, next *routes, now time.Time) (failed, back []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed == nil {
		h.failed, h.gone = make(map[string]time.Time), make(map[string]goneCapability)
	}
	for name, m := range prev.members {
		if _, ok := next.members[name]; !ok && !m.Meta.Draining {
			h.failed[name] = now
			failed = append(failed, name)
		}
	}
	for name := range next.members {
		if _, ok := h.failed[name]; ok {
			delete(h.failed, name)
			back = append(back, name)
		}
	}
	for _, c := range prev.table.Capabilities() {
		if next.table.Ring(c) == nil {
			h.gone[c] = goneCapability{since: now, by: prev.table.Ring(c).Nodes()}
		}
	}
	for _, c := range next.table.Capabilities() {
		delete(h.gone, c)
	}
	for name, at := range h.failed {
		if now.Sub(at) > lossMemory {
			delete(h.failed, name)
		}
	}
	for c, g := range h.gone {
		if now.Sub(g.since) > lossMemory {
			delete(h.gone, c)
		}
	}
	slices.Sort(failed)
	slices.Sort(back)
	return failed, back
}

// reasons returns the losses remembered at now.
func (h *healthLog) reasons(now time.Time) []StatusReason {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []StatusReason
	for name, at := range h.failed {
		if d := now.Sub(at); d <= lossMemory {
			out = append(out, StatusReason{Kind: ReasonMemberFailed, Subject: name,
				Detail: fmt.Sprintf("%s left without draining %s ago and has not come back", name, roundDuration(d))})
		}
	}
	for c, g := range h.gone {
		if d := now.Sub(g.since); d <= lossMemory {
			out = append(out, StatusReason{Kind: ReasonCapabilityUnavailable, Subject: c,
				Detail: fmt.Sprintf("no member offers %s since %s ago; last offered by %s", c, roundDuration(d), strings.Join(g.by, ", "))})
		}
	}
	return out
}

// suspectAfter is how long a member may go unheard before a node calls it
// suspect. memberlist probes one member per probe interval, going through
// the members in a shuffled order, so a healthy member is probed at least
// once every 2 × (members − 1) intervals; one missed round more and it is
// suspect.
func suspectAfter(interval time.Duration, members int) time.Duration {
	return time.Duration(2*max(1, members-1)+2) * interval
}

// assess sets the health fields of members from this node's acknowledged
// probes.
func (n *Node) assess(members []Member) {
	probes, now := n.members.Probes(), time.Now()
	after := suspectAfter(n.members.ProbeInterval(), len(members))
	for i := range members {
		m, p := &members[i], probes[members[i].Name]
		m.LastSeen, m.ProbeRTT = m.Updated, p.RTT
		if p.Acked.After(m.LastSeen) {
			m.LastSeen = p.Acked
		}
		switch {
		case m.Self:
			m.LastSeen = now
			m.State = MemberAlive
			if m.Draining || n.closing.Load() {
				m.State = MemberDraining
			}
		case m.Draining:
			m.State = MemberDraining
		case now.Sub(m.LastSeen) > after:
			m.State = MemberSuspect
		default:
			m.State = MemberAlive
		}
	}
}

// observeRoutes is called with every new routing snapshot: it remembers
// losses for Status and logs members that failed or came back.
func (n *Node) observeRoutes(prev, next *routes) {
	failed, back := n.health.observe(prev, next, time.Now())
	for _, name := range failed {
		n.logger.Warn("member failed: it left without draining", "member", name)
	}
	for _, name := range back {
		n.logger.Info("failed member is back", "member", name)
	}
	if prev.table.Version() != next.table.Version() {
		n.metrics.Rebalanced(prev.table, next.table)
	}
}

// Status reports the health of the cluster as this node sees it: running,
// or degraded with the reasons. It pings every member through the mesh
// (each ping bounded by a second and by ctx) to compare the placements they
// route by and to find members that do not answer; members that left
// without draining and capabilities that lost their last member are
// reported for five minutes unless they come back.
//
// A member is suspect when this node has neither had a probe of it
// acknowledged nor heard news of it for 2 × (members − 1) + 2 probe
// intervals (memberlist has no suspect event; see Member.State).
func (n *Node) Status(ctx context.Context) ClusterStatus {
	now := time.Now()
	st := ClusterStatus{
		Node:            n.name,
		RoutingVersion:  n.RoutingVersion(),
		Members:         map[MemberState]int{MemberAlive: 0, MemberSuspect: 0, MemberDraining: 0},
		RoutingVersions: map[string]uint64{},
	}
	members := n.Members()
	for _, m := range members {
		st.Members[m.State]++
		switch m.State {
		case MemberSuspect:
			st.Reasons = append(st.Reasons, StatusReason{Kind: ReasonMemberSuspect, Subject: m.Name,
				Detail: fmt.Sprintf("%s has not answered a probe for %s", m.Name, roundDuration(now.Sub(m.LastSeen)))})
		case MemberDraining:
			st.Reasons = append(st.Reasons, StatusReason{Kind: ReasonDraining, Subject: m.Name,
				Detail: fmt.Sprintf("%s is leaving", m.Name)})
		}
	}
	// A capability still offered is unplaced rather than unavailable.
	unplaced := n.routes.Load().unplaced
	st.Reasons = append(st.Reasons, slices.DeleteFunc(n.health.reasons(now), func(r StatusReason) bool {
		return r.Kind == ReasonCapabilityUnavailable && unplaced[r.Subject] != nil
	})...)
	for _, c := range slices.Sorted(maps.Keys(unplaced)) {
		st.Reasons = append(st.Reasons, StatusReason{Kind: ReasonCapabilityUnplaced, Subject: c, Detail: unplaced[c].Error()})
	}

	pctx, cancel := context.WithTimeout(ctx, statusPingTimeout)
	defer cancel()
	for _, r := range n.PingAll(pctx) {
		if r.Err != nil {
			st.Reasons = append(st.Reasons, StatusReason{Kind: ReasonMemberUnreachable, Subject: r.Node,
				Detail: fmt.Sprintf("%s did not answer a ping: %v", r.Node, r.Err)})
			continue
		}
		st.RoutingVersions[r.Node] = r.RoutingVersion
	}
	if versions := slices.Compact(slices.Sorted(maps.Values(st.RoutingVersions))); len(versions) > 1 {
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(st.RoutingVersions)) {
			parts = append(parts, fmt.Sprintf("%s %s", name, formatVersion(st.RoutingVersions[name])))
		}
		st.Reasons = append(st.Reasons, StatusReason{Kind: ReasonRoutingDisagreement,
			Detail: fmt.Sprintf("members route by %d different placements: %s", len(versions), strings.Join(parts, ", "))})
	}
	sort.Slice(st.Reasons, func(i, j int) bool {
		a, b := st.Reasons[i], st.Reasons[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Subject < b.Subject
	})
	st.Status = StatusRunning
	if len(st.Reasons) > 0 {
		st.Status = StatusDegraded
	}
	st.CheckedAt = time.Now()
	return st
}

// formatVersion writes a routing or ring version as 16 hex digits.
func formatVersion(v uint64) string { return fmt.Sprintf("%016x", v) }

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
