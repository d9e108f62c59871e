package mesh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/meshrun/mesh/cluster"
)

// EventKind says what happened to a member: one of the Event* constants.
// Its String is the kind's name in snake case, such as "joined".
type EventKind = cluster.EventKind

// The kinds of MemberEvent.
const (
	// EventPresent: a member already in the cluster when the subscription
	// began. Every subscription starts with one per member, this node
	// included, sorted by name.
	EventPresent = cluster.EventPresent
	// EventJoined: a member joined.
	EventJoined = cluster.EventJoined
	// EventLeft: a member left gracefully (it drained, or announced that
	// it drains, before it left: Close does).
	EventLeft = cluster.EventLeft
	// EventFailed: a member went away without draining: dead by failure
	// detection (a crash, a partition), or its metadata stopped parsing.
	EventFailed = cluster.EventFailed
	// EventCapabilitiesChanged: a member offers other capabilities
	// (RegisterCapabilities, UnregisterCapabilities).
	EventCapabilitiesChanged = cluster.EventCapabilitiesChanged
	// EventLabelsChanged: a member's labels changed.
	EventLabelsChanged = cluster.EventLabelsChanged
	// EventDraining: a member began to drain (Drain, Close): it owns no
	// shard any more.
	EventDraining = cluster.EventDraining
	// EventRestarted: a member came back under its name with a new
	// incarnation before this node saw it go; what its processes held in
	// memory is gone.
	EventRestarted = cluster.EventRestarted
	// EventMissed: the subscriber fell behind by more than its buffer, and
	// MemberEvent.Missed events were dropped where this one stands. Read
	// Members to know the cluster as it is now.
	EventMissed = cluster.EventMissed
)

// DefaultEventBuffer is the buffer Subscribe uses when asked for zero.
const DefaultEventBuffer = cluster.DefaultEventBuffer

// MemberEvent is one change of a member as this node heard of it.
type MemberEvent struct {
	Kind EventKind
	// Member is the member as of the event; for EventLeft and EventFailed,
	// as this node last knew it; zero for EventMissed. Its State, LastSeen
	// and ProbeRTT are not set: they are this node's judgement, not news.
	Member Member
	// At is when this node heard of the change.
	At time.Time
	// Missed counts the events dropped, for EventMissed; zero otherwise.
	Missed int
}

// Subscription delivers membership events to one subscriber; see
// Node.Subscribe.
type Subscription struct {
	s *cluster.Subscription[MemberEvent]
}

// Subscribe starts a subscription to the membership events this node
// hears of. Its first events are one EventPresent per member, sorted by
// name; then every change, in the order this node heard of them, which
// every subscriber of the node sees alike. An event comes as soon as
// gossip brings the news, up to 50 ms before Members and the routing
// reflect it.
//
// buf bounds the events held for the subscriber (zero means
// DefaultEventBuffer; the first EventPresent events do not count). Gossip
// never waits for a subscriber: an event that finds the buffer full is
// dropped, and the subscriber receives one EventMissed with the count in
// place of those dropped, as soon as it has received what came before.
//
// The subscription ends, and C is closed, on Close, when ctx ends, or when
// the node closes; events not received by then are dropped, and Err says
// why it ended. Subscribe fails with ErrClosed once the node is closing,
// and with ErrInvalidRequest for a negative buf.
func (n *Node) Subscribe(ctx context.Context, buf int) (*Subscription, error) {
	if buf < 0 {
		return nil, fmt.Errorf("%w: event buffer %d is negative", ErrInvalidRequest, buf)
	}
	if n.closing.Load() {
		return nil, ErrClosed
	}
	s, err := cluster.Subscribe(ctx, n.members, buf, func(e cluster.Event) MemberEvent {
		ev := MemberEvent{Kind: e.Kind, At: e.At, Missed: e.Missed}
		if e.Kind != EventMissed {
			ev.Member = n.memberOf(e.Member)
		}
		return ev
	})
	if err != nil {
		return nil, closedError(err)
	}
	return &Subscription{s: s}, nil
}

// C returns the channel of the events. It is closed when the
// subscription ends.
func (s *Subscription) C() <-chan MemberEvent { return s.s.C() }

// Err returns why the subscription ended: nil while it goes on and after
// Close, ctx's error when ctx ended, an error wrapping ErrClosed when the
// node closed.
func (s *Subscription) Err() error { return closedError(s.s.Err()) }

// Close ends the subscription; C is closed soon after. It is idempotent.
func (s *Subscription) Close() { s.s.Close() }

// closedError makes the membership's ErrClosed the node's.
func closedError(err error) error {
	if errors.Is(err, cluster.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// memberOf is m as Members describes it, without this node's judgement
// of its health.
func (n *Node) memberOf(m cluster.Member) Member {
	return Member{
		Name: m.Name, GossipAddr: m.GossipAddr, RemoteAddr: m.Meta.RemoteAddr,
		// Copies: the caller may change them, and gossip reads the
		// originals.
		Capabilities: slices.Clone(m.Meta.Capabilities), Requires: maps.Clone(m.Meta.Requires),
		Labels: maps.Clone(m.Meta.Labels), Draining: m.Meta.Draining,
		Weight: max(1, capacity(m.Meta.Labels)),
		Self:   m.Name == n.name, Updated: m.Updated, Incarnation: m.Meta.Incarnation,
	}
}
