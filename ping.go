package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
)

// Pong is a member's answer to Ping.
type Pong struct {
	// Node is the member that answered.
	Node string
	// RTT is the round trip through the mesh: this node's transport to
	// the member's router and back, as a call's first message takes.
	RTT time.Duration
	// RoutingVersion identifies the placement the member routes by.
	RoutingVersion uint64
	// AdminAddr is the member's admin endpoint; empty if it has none.
	AdminAddr string
	// Activations is how many processes are active on the member.
	Activations int64
	// Draining is set while the member is leaving.
	Draining bool
	// Incarnation is the member's incarnation, drawn at its start.
	Incarnation uint64
	// Err is set, by PingAll, when the member did not answer.
	Err error
}

// Ping sends a ping through the mesh to the router of node, a member of
// the cluster (this node included), and returns its answer. It fails with
// ErrUnknownMember if node is not a member as this node sees it, and with
// ErrUnreachable (wrapping ctx's error) if no answer comes first.
func (n *Node) Ping(ctx context.Context, node string) (Pong, error) {
	if n.closing.Load() {
		return Pong{}, ErrClosed
	}
	pid := n.routes.Load().routers[node]
	if pid == nil {
		return Pong{}, fmt.Errorf("%w: %q", ErrUnknownMember, node)
	}
	start := time.Now()
	m, err := n.ask(ctx, pid, &wire.Ping{Sent: start.UnixNano()})
	rtt := time.Since(start)
	if err != nil {
		return Pong{}, fmt.Errorf("%w: ping %s: no answer: %w", ErrUnreachable, node, err)
	}
	switch m := m.(type) {
	case *wire.Pong:
		return Pong{Node: m.Node, RTT: rtt, RoutingVersion: m.RoutingVersion, AdminAddr: m.AdminAddr,
			Activations: m.Activations, Draining: m.Draining, Incarnation: m.Incarnation}, nil
	case *pa.DeadLetterResponse:
		return Pong{}, fmt.Errorf("%w: ping %s: no router answers at %s", ErrUnreachable, node, pid.Address)
	case *wire.Reply:
		// A node of an older version answers a Ping as an unknown message.
		return Pong{}, fmt.Errorf("%w: %s does not answer pings: %s", ErrBadPayload, node, m.GetFailure().GetMessage())
	}
	return Pong{}, fmt.Errorf("%w: unexpected answer %T to a ping of %s", ErrBadPayload, m, node)
}

// PingAll pings every member at once and returns their answers sorted by
// name; a member that did not answer by ctx's deadline has Err set.
func (n *Node) PingAll(ctx context.Context) []Pong {
	members := n.Members()
	out := make([]Pong, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := n.Ping(ctx, m.Name)
			if err != nil {
				p = Pong{Node: m.Name, Err: err}
			}
			out[i] = p
		}()
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b Pong) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// pong answers a ping that reached this node's router.
func (n *Node) pong(p *wire.Ping) *wire.Pong {
	return &wire.Pong{
		Node:           n.name,
		RoutingVersion: n.RoutingVersion(),
		AdminAddr:      n.AdminAddr(),
		Sent:           p.GetSent(),
		Activations:    int64(n.table.Len()),
		Draining:       n.closing.Load(),
		Incarnation:    n.incarnation,
	}
}
