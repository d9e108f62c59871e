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
	// without leaving) stops serving. Its calls and the calls routed to
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

// quorum is what a node knows of the cluster's size for its partition
// policy. Only onMembers uses it, under routesMu.
type quorum struct {
	// failed are the members that went away without leaving gracefully,
	// by when they were last seen.
	failed map[string]time.Time
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

// setQuorum records whether the node sees a majority; on losing it, the
// node's processes stop.
func (n *Node) setQuorum(ok bool) {
	if n.noQuorum.Swap(!ok) == !ok {
		return
	}
	if ok {
		n.logger.Info("a majority of the cluster is in sight again: serving")
		return
	}
	n.logger.Warn("fewer than a majority of the cluster in sight: this node stops serving until it sees one",
		"failed", len(n.quorum.failed))
	stopping := n.table.StopAll(actor.StopPartitioned)
	n.stopsMu.Lock()
	n.stops = append(n.stops, stopping)
	n.stopsMu.Unlock()
}

// serving returns ErrNoQuorum while the node does not see a majority.
func (n *Node) serving() error {
	if n.noQuorum.Load() {
		return fmt.Errorf("%w: %s sees fewer than a majority of the cluster", ErrNoQuorum, n.name)
	}
	return nil
}
