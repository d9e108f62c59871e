package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// EventKind says what happened to a member.
type EventKind uint8

const (
	// EventPresent reports a member that was already in the cluster when
	// the subscription began: every subscription starts with one for each
	// member, this node included, sorted by name.
	EventPresent EventKind = iota + 1
	// EventJoined reports a member that joined.
	EventJoined
	// EventLeft reports a member that went away gracefully: it announced
	// that it drains before it left.
	EventLeft
	// EventFailed reports a member that went away without draining: dead
	// by failure detection, or whose metadata stopped parsing.
	EventFailed
	// EventCapabilitiesChanged reports a member that offers other
	// capabilities than before.
	EventCapabilitiesChanged
	// EventLabelsChanged reports a member whose labels changed.
	EventLabelsChanged
	// EventDraining reports a member that began to drain: it stays a
	// member but owns no shard any more.
	EventDraining
	// EventRestarted reports a member that came back under its name with
	// a new incarnation before it was seen to go: what it held is gone.
	EventRestarted
	// EventMissed is no news of a member: the subscriber did not keep up,
	// and Event.Missed events were dropped where this one stands. The
	// events before and after it are in order; to know the members now,
	// ask for them (Membership.Members).
	EventMissed
)

var kindNames = [...]string{
	EventPresent:             "present",
	EventJoined:              "joined",
	EventLeft:                "left",
	EventFailed:              "failed",
	EventCapabilitiesChanged: "capabilities_changed",
	EventLabelsChanged:       "labels_changed",
	EventDraining:            "draining",
	EventRestarted:           "restarted",
	EventMissed:              "missed",
}

// String returns the kind's name in snake case, such as "joined"; the
// admin endpoint and the CLI write these names.
func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change of a member, as this node heard of it.
type Event struct {
	Kind EventKind
	// Member is the member as of the event: for EventLeft and
	// EventFailed, as this node last knew it. Zero for EventMissed.
	Member Member
	// At is when this node heard of the change.
	At time.Time
	// Missed counts the events dropped, for EventMissed; zero otherwise.
	Missed int
}

// DefaultEventBuffer is the buffer of a subscription asked for with a
// buffer of zero.
const DefaultEventBuffer = 256

// Subscription delivers a Membership's events to one subscriber, in the
// order this node heard of them, converted to T. It holds at most its
// buffer of events the subscriber has not received (its initial
// EventPresent events aside); an event that finds the buffer full is
// dropped and counted, and the subscriber gets one EventMissed in its
// place, with the count, once there is room again or it has received
// everything before it. Gossip never waits for a subscriber.
type Subscription[T any] struct {
	conv func(Event) T
	buf  int
	out  chan T
	// quit is closed by Close; ctx and stop (the membership's) end the
	// subscription too.
	quit      chan struct{}
	ctx       context.Context
	stop      <-chan struct{}
	closeOnce sync.Once
	// wake has a token when queue or missed changed.
	wake chan struct{}

	mu sync.Mutex // guards queue, held, missed, err
	// queue holds the events not yet delivered, held how many of them
	// the buffer bounds (markers of missed events take no room); missed
	// counts the events dropped since the last one queued.
	queue  []Event
	held   int
	missed int
	err    error
}

// Subscribe starts a subscription to m's events, which conv turns into
// what the subscriber receives; buf bounds the events held for it (zero
// means DefaultEventBuffer). Its first events are one EventPresent per
// member, sorted by name; from then on, every change. The subscription
// ends, and its channel closes, on Close, when ctx ends, or when m is
// left or crashes; events not yet received are then dropped, and Err
// says why it ended. It fails with ErrClosed once m is left, and for a
// negative buf.
func Subscribe[T any](ctx context.Context, m *Membership, buf int, conv func(Event) T) (*Subscription[T], error) {
	if buf < 0 {
		return nil, fmt.Errorf("cluster: event buffer %d is negative", buf)
	}
	if buf == 0 {
		buf = DefaultEventBuffer
	}
	s := &Subscription[T]{
		conv: conv, buf: buf, out: make(chan T), quit: make(chan struct{}), ctx: ctx, stop: m.stop,
		wake: make(chan struct{}, 1),
	}
	m.membersMu.Lock()
	select {
	case <-m.stop:
		m.membersMu.Unlock()
		return nil, ErrClosed
	default:
	}
	now := time.Now()
	for _, name := range slices.Sorted(maps.Keys(m.members)) {
		s.queue = append(s.queue, Event{Kind: EventPresent, Member: m.members[name], At: now})
	}
	if m.subs == nil {
		m.subs = map[subscriber]struct{}{}
	}
	m.subs[s] = struct{}{}
	// Under membersMu, which shutdown holds to close stop: the goroutine
	// is counted before shutdown waits for the goroutines of m.
	m.goFunc(func() {
		s.run()
		m.membersMu.Lock()
		delete(m.subs, s)
		m.membersMu.Unlock()
	})
	m.membersMu.Unlock()
	s.signal()
	return s, nil
}

// subscriber is a Subscription of any type, as the Membership holds it.
type subscriber interface {
	// publish queues e without blocking.
	publish(e Event)
}

// C returns the channel the events come on. It is closed when the
// subscription ends.
func (s *Subscription[T]) C() <-chan T { return s.out }

// Err returns why the subscription ended: nil after Close, ctx's error
// when ctx ended, ErrClosed when the membership was left or crashed; nil
// while it goes on.
func (s *Subscription[T]) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription; C is closed soon after. It is idempotent
// and safe to call from any goroutine.
func (s *Subscription[T]) Close() { s.closeOnce.Do(func() { close(s.quit) }) }

func (s *Subscription[T]) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// publish queues e, or counts it missed when the buffer is full. It runs
// under the membership's membersMu, from memberlist's callbacks: it never
// blocks.
func (s *Subscription[T]) publish(e Event) {
	s.mu.Lock()
	if s.held >= s.buf {
		s.missed++
	} else {
		s.flushMissedLocked()
		s.queue = append(s.queue, e)
		s.held++
	}
	s.mu.Unlock()
	s.signal()
}

// flushMissedLocked queues the marker of the events missed so far, if
// any. mu must be held.
func (s *Subscription[T]) flushMissedLocked() {
	if s.missed > 0 {
		s.queue = append(s.queue, Event{Kind: EventMissed, At: time.Now(), Missed: s.missed})
		s.missed = 0
	}
}

// run delivers the queue until the subscription ends.
func (s *Subscription[T]) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.flushMissedLocked()
		}
		var next Event
		have := len(s.queue) > 0
		if have {
			next = s.queue[0]
		}
		s.mu.Unlock()
		if !have {
			select {
			case <-s.wake:
				continue
			case <-s.quit:
				s.end(nil)
			case <-s.ctx.Done():
				s.end(s.ctx.Err())
			case <-s.stop:
				s.end(ErrClosed)
			}
			return
		}
		select {
		case s.out <- s.conv(next):
			s.mu.Lock()
			if s.queue[0].Kind != EventMissed && s.queue[0].Kind != EventPresent {
				s.held--
			}
			s.queue[0] = Event{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				// Let the backing array go rather than grow it forever.
				s.queue = nil
			}
			s.mu.Unlock()
		case <-s.quit:
			s.end(nil)
			return
		case <-s.ctx.Done():
			s.end(s.ctx.Err())
			return
		case <-s.stop:
			s.end(ErrClosed)
			return
		}
	}
}

// end records why the subscription ended and drops what it held.
func (s *Subscription[T]) end(err error) {
	s.mu.Lock()
	s.err, s.queue, s.held, s.missed = err, nil, 0, 0
	s.mu.Unlock()
}

// publishLocked sends e to every subscriber. membersMu must be held: it
// orders the events of all subscribers alike.
func (m *Membership) publishLocked(e Event) {
	for s := range m.subs {
		s.publish(e)
	}
}

// changes returns the events that turn member old into new, in a fixed
// order: a restart alone, else draining, capabilities, labels.
func changes(old, new Member, at time.Time) []Event {
	if old.Meta.Incarnation != new.Meta.Incarnation {
		return []Event{{Kind: EventRestarted, Member: new, At: at}}
	}
	var out []Event
	if new.Meta.Draining && !old.Meta.Draining {
		out = append(out, Event{Kind: EventDraining, Member: new, At: at})
	}
	if !slices.Equal(old.Meta.Capabilities, new.Meta.Capabilities) {
		out = append(out, Event{Kind: EventCapabilitiesChanged, Member: new, At: at})
	}
	if !maps.Equal(old.Meta.Labels, new.Meta.Labels) {
		out = append(out, Event{Kind: EventLabelsChanged, Member: new, At: at})
	}
	return out
}
