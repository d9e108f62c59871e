package actor

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
)

// Process is the behaviour and state of one virtual actor: the process
// behind one (capability, ID).
//
// Handle is called from the activation's own goroutine, one message at a
// time, never concurrently, so a Process needs no locks for its own state.
// It returns the reply to a Call (ignored for a Cast) or an error, which
// the caller receives as a *ProcessError. A panic in Handle fails that one
// message with ErrProcessFailed; the Process value is then dropped and a
// new one is made by the factory for the next message.
type Process interface {
	Handle(ctx Context, msg proto.Message) (proto.Message, error)
}

// Factory makes the Process for id. It is called from the new
// activation's goroutine on its first message, and again after a panic.
type Factory func(id string) Process

// Context describes the message being handled. It is valid only during the
// Handle (or Stop) call that received it. The node provides it; a test of a
// Process may provide its own.
type Context interface {
	// Capability returns the capability of the process.
	Capability() string
	// ID returns the ID of the process.
	ID() string
	// Deadline returns the caller's deadline, if it has one. Work past it
	// is wasted: the caller has given up.
	Deadline() (time.Time, bool)
	// Cast reports whether the message is a Cast, whose reply nobody
	// reads.
	Cast() bool
	// Context returns a context.Context for work done on behalf of the
	// message, such as calls to other processes or spans of its own: it
	// carries the caller's trace context, also from another node, and the
	// values of the caller's context on the same node, and it ends at the
	// caller's deadline (a Cast's context has none, and is not cancelled
	// with the caster's).
	Context() context.Context
	// Changed tells the node that this message changed the process's
	// state. For a capability that saves on change (mesh.SaveOnChange),
	// the node then saves the state to its store before the reply leaves;
	// otherwise it does nothing. Calling it more than once per message is
	// the same as once.
	Changed()
}

// StopReason says why an activation stopped.
type StopReason int

const (
	// StopMoved means the process's shard moved to another node, which
	// will activate it on its next message.
	StopMoved StopReason = iota + 1
	// StopUnregistered means this node stopped offering the capability;
	// the node that owns the process now, if any, is named with it.
	StopUnregistered
	// StopClosing means the node is shutting down; the new owner, if any
	// node still offers the capability, is named with it.
	StopClosing
	// StopPassivated means the process was idle past its capability's
	// idle timeout, or the least recently used when its node held more
	// processes of the capability than allowed. Its next message makes it
	// again, from the store when the node has one.
	StopPassivated
	// StopPartitioned means the node lost sight of a majority of the
	// cluster and stops serving (mesh.PartitionMajority).
	StopPartitioned
)

func (r StopReason) String() string {
	switch r {
	case StopMoved:
		return "moved"
	case StopUnregistered:
		return "unregistered"
	case StopClosing:
		return "closing"
	case StopPassivated:
		return "passivated"
	case StopPartitioned:
		return "partitioned"
	}
	return "unknown"
}

// Stopper is implemented by a Process that wants to act before its
// activation stops: flush state, or hand it over to the new owner named in
// the stop. Stop is called from the activation's goroutine after the last
// message it handles; it should return promptly.
type Stopper interface {
	Stop(ctx Context, reason StopReason, newOwner string)
}

// Snapshotter is implemented by a Process whose state moves with it. When
// the process's shard changes hands in a planned change (a node joins, a
// node drains or closes, a capability is withdrawn), the old owner lets
// the messages already queued finish, calls Snapshot on the activation's
// goroutine, and sends the state to the new owner, which makes the
// process with its Factory and calls Restore before its first message.
// Messages that reach the new owner meanwhile wait for the state (bounded
// by their deadlines and the node's HandoffTimeout). A Process without
// it starts empty on its new owner.
//
// format is the process's own version of its snapshot's layout: Restore
// may convert an older one, or refuse one it does not know with an error,
// and the process then starts empty (the node logs it and counts it in
// mesh_handoffs_total{result="refused"}).
type Snapshotter interface {
	Snapshot() (state proto.Message, format uint32, err error)
	Restore(state proto.Message, format uint32) error
}

// Merger is implemented by a Snapshotter whose state can be joined with
// the state of another activation of the same ID. Two activations of one
// ID exist when the two sides of a network split both serve it (with the
// node's availability policy, or until failure detection tells a
// minority it has lost its majority), or when an old owner hands a state
// off to a process that has already served messages on its new owner.
// When the views of the cluster agree again, the node that owns the ID's
// shard keeps its activation, and the other hands its state off as it
// would in a planned move; on arrival the owner's process, which has
// already served messages here, gets that state through Merge instead of
// Restore.
//
// Merge is called from the activation's goroutine, between messages,
// never concurrently with Handle; state and format are as Snapshot made
// them on the other node. Merge must be a join: commutative, associative
// and idempotent, as a CRDT's merge is, because the two states may share
// history (one of them was handed off from the other before the split)
// and the one merged may already hold part of this one. A per-node
// counter merged by taking each node's maximum is one; adding the two
// totals is not. An error leaves the process as it is and drops the other
// state (mesh_handoffs_total{result="conflict"} and a log line at Info);
// Merge should then leave its own state unchanged. Without Merger the
// other state is dropped the same way.
type Merger interface {
	Merge(state proto.Message, format uint32) error
}
