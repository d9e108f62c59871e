package mesh

import (
	"fmt"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/cluster"
)

// PartitionPolicy says what a node does when it loses sight of part of the
// cluster.
type PartitionPolicy int

const (
	// PartitionMajority, the default: a node that sees fewer than a
	// majority of the members it knows (those alive and those that failed
	// without leaving) stops serving, a second (the grace of a lost
	// majority) after it saw it had none. Its calls and the calls routed to
	// it fail with ErrNoQuorum and its processes stop (saving to
	// Config.Store, if any), so that the two sides of a split never both
	// serve an ID; it serves again once it sees a majority. Members that
	// left gracefully (Close, Drain then Close) do not count; those that
	// failed are forgotten ForgetFailedAfter after they were last seen,
	// and only by a side that has a majority. A cluster of two nodes
	// therefore stops when either fails: run three or more.
	PartitionMajority PartitionPolicy = iota
	// PartitionAvailability: every side of a split goes on serving every
	// ID it owns in its view. At the heal, a process whose state arrives
	// at a node where the same ID served meanwhile is merged when it
	// implements actor.Merger, and its handed-off state dropped otherwise.
	PartitionAvailability
)

func (p PartitionPolicy) String() string {
	switch p {
	case PartitionMajority:
		return "majority"
	case PartitionAvailability:
		return "availability"
	}
	return fmt.Sprintf("PartitionPolicy(%d)", int(p))
}

// DefaultForgetFailedAfter is how long a member that failed still counts
// against the majority, unless Config.ForgetFailedAfter says otherwise.
const DefaultForgetFailedAfter = 10 * time.Minute

// quorumGrace is how long a node that has lost sight of a majority goes
// on serving before it stops, in case it sees one again meanwhile. At a
// heal the side that was cut off gossips the deaths it saw; a node of the
// majority may take one of its peers for dead from that until the peer
// refutes it, tens of milliseconds later (measured in one process, 60-80
// ms). Without the grace the node would stop every process for that
// blink, losing the state of those that have no Store.
const quorumGrace = time.Second

// quorum is what a node knows of the cluster's size for its partition
// policy. Only onMembers and the grace timer use it, under routesMu.
type quorum struct {
	// failed are the members that went away without leaving gracefully,
	// by when they were last seen.
	failed map[string]time.Time
	// ok is whether the last view showed a majority (or the policy is
	// availability).
	ok bool
	// grace, if set, stops the node once quorumGrace has passed without
	// a majority; lost counts the losses, so that a timer of an earlier
	// one does nothing.
	grace *time.Timer
	lost  uint64
}

// assessQuorum updates what the node knows from the alive members and
// reports whether it sees a majority of them.
func (n *Node) assessQuorum(prev map[string]cluster.Member, members []cluster.Member, now time.Time) bool {
	q := &n.quorum
	if q.failed == nil {
		q.failed = map[string]time.Time{}
	}
	alive := make(map[string]bool, len(members))
	for _, m := range members {
		alive[m.Name] = true
		delete(q.failed, m.Name)
	}
	for name := range prev {
		if alive[name] || n.members.Left(name) {
			continue
		}
		if _, ok := q.failed[name]; !ok {
			q.failed[name] = now
		}
	}
	majority := 2*len(alive) > len(alive)+len(q.failed)
	if majority {
		// Only a side that has a majority may forget: a minority that
		// forgot would grant itself one.
		for name, seen := range q.failed {
			if now.Sub(seen) > n.cfg.ForgetFailedAfter {
				delete(q.failed, name)
			}
		}
	}
	return majority || n.cfg.Partition == PartitionAvailability
}

// setQuorum records whether the node sees a majority. On losing it, the
// node goes on serving for quorumGrace and then, if it still sees none,
// stops serving and stops its processes. routesMu must be held.
func (n *Node) setQuorum(ok bool) {
	q := &n.quorum
	was := q.ok
	q.ok = ok
	switch {
	case ok && q.grace != nil:
		q.grace.Stop()
		q.grace = nil
		n.logger.Info("a majority of the cluster is in sight again within the grace: serving on")
	case ok && n.noQuorum.Swap(false):
		n.logger.Info("a majority of the cluster is in sight again: serving")
	case !ok && was && !n.noQuorum.Load() && q.grace == nil && !n.closing.Load():
		q.lost++
		lost := q.lost
		q.grace = time.AfterFunc(quorumGrace, func() { n.loseQuorum(lost) })
	}
}

// loseQuorum stops the node from serving after the grace of loss number
// lost, unless a majority came back or the node closes meanwhile.
func (n *Node) loseQuorum(lost uint64) {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	q := &n.quorum
	if q.lost != lost || q.grace == nil || q.ok || n.closing.Load() {
		return
	}
	q.grace = nil
	n.noQuorum.Store(true)
	n.logger.Warn("fewer than a majority of the cluster in sight: this node stops serving until it sees one",
		"failed", len(q.failed))
	stopping := n.table.StopAll(actor.StopPartitioned)
	n.stopsMu.Lock()
	n.stops = append(n.stops, stopping)
	n.stopsMu.Unlock()
}

// stopQuorumGrace stops a grace under way, so that no timer outlives
// Close.
func (n *Node) stopQuorumGrace() {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	if n.quorum.grace != nil {
		n.quorum.grace.Stop()
		n.quorum.grace = nil
	}
}

// serving returns ErrNoQuorum while the node does not see a majority.
func (n *Node) serving() error {
	if n.noQuorum.Load() {
		return fmt.Errorf("%w: %s sees fewer than a majority of the cluster", ErrNoQuorum, n.name)
	}
	return nil
}
