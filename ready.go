package mesh

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// readiness is what Ready knows of a node's convergence.
type readiness struct {
	// checking admits one convergence check at a time: a probe that
	// arrives during another's pings does not ping again.
	checking sync.Mutex
	// converged is set once a check found the node converged; it stays.
	converged atomic.Bool
}

// readySettle is how long the placement must have stayed the same before
// a node checks that its peers agree on it: two probe intervals of gossip
// (1 s in the local profile, 2 s in the LAN one), so that a burst of
// joins, such as a StatefulSet starting its pods in parallel, has settled.
func (n *Node) readySettle() time.Duration { return 2 * n.members.ProbeInterval() }

// Ready reports whether the node should be sent traffic: nil once it has
// joined its cluster and its view has converged, and until it drains. It
// is what the admin endpoint's /readyz answers (200 for nil, 503 with the
// reason otherwise), for Kubernetes' readiness probe. Otherwise it
// returns an error wrapping ErrNotReady that says why:
//
//   - draining: Drain or Close has begun;
//   - no quorum: under PartitionMajority the node sees fewer than a
//     majority of the members it knows;
//   - with Config.SeedsDNS, no lookup has answered yet, or none has
//     listed the node's own gossip address yet: until then its answers
//     may predate the node and miss peers that started with it;
//   - not joined: the node has seeds other than itself (Config.Seeds, or
//     the last DNS answer) but sees no other member;
//   - until it first converges: the placement changed less than two
//     gossip probe intervals ago (1 s local, 2 s LAN), or a member did not
//     answer a ping through the mesh (bounded by ctx) with the placement
//     this node routes by.
//
// Once converged, a node stays ready while it keeps quorum and seeds, so
// that the changes of a rolling restart do not take every node out of
// service at once. A node alone, with no seed but itself, is ready once
// its placement has settled. Ready is safe for concurrent use; while one
// call pings the members, another returns at once that the check is in
// progress.
func (n *Node) Ready(ctx context.Context) error {
	notReady := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNotReady, fmt.Sprintf(format, args...))
	}
	switch {
	case n.closing.Load() || n.drained.Load():
		return notReady("draining: the node is leaving")
	case n.noQuorum.Load():
		return notReady("no quorum: the node sees fewer than a majority of the members it knows")
	}
	r := n.routes.Load()
	self := n.GossipAddr()
	joined := len(r.members) > 1
	if n.cfg.SeedsDNS != "" {
		d := n.members.Discovered()
		switch {
		case !d.Answered && d.Err != nil:
			return notReady("seeds DNS %s has not answered yet: %v", n.cfg.SeedsDNS, d.Err)
		case !d.Answered:
			return notReady("seeds DNS %s has not answered yet", n.cfg.SeedsDNS)
		case !d.Self:
			return notReady("seeds DNS %s does not list this node (%s) yet", n.cfg.SeedsDNS, self)
		case len(d.Seeds) > 0 && !joined:
			return notReady("not joined: none of the %d seeds DNS lists reached yet", len(d.Seeds))
		}
	}
	if !joined && slices.ContainsFunc(n.cfg.Seeds, func(s string) bool { return s != self }) {
		return notReady("not joined: no seed reached yet")
	}
	if n.ready.converged.Load() {
		return nil
	}
	if age, settle := time.Since(r.since), n.readySettle(); age < settle {
		return notReady("settling: the placement changed %v ago, less than %v", roundDuration(age), settle)
	}
	if !n.ready.checking.TryLock() {
		return notReady("checking that the members agree on the placement")
	}
	defer n.ready.checking.Unlock()
	version := r.table.Version()
	for _, p := range n.PingAll(ctx) {
		switch {
		case p.Err != nil:
			return notReady("not converged: %s did not answer a ping: %v", p.Node, p.Err)
		case p.RoutingVersion != version:
			return notReady("not converged: %s routes by placement %s, this node by %s",
				p.Node, formatVersion(p.RoutingVersion), formatVersion(version))
		}
	}
	if now := n.routes.Load(); now.table.Version() != version {
		return notReady("settling: the placement changed during the check")
	}
	n.ready.converged.Store(true)
	return nil
}
