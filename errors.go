package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/cluster"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/wire"
)

// Errors returned by mesh. Match them with errors.Is: every error that a
// function or method of this package returns wraps one of these with the
// details of the case, except the *ProcessError of a process's own
// failure (match it with errors.As).
var (
	// ErrInvalidRequest reports a Request with an empty or invalid
	// capability name (it then wraps ErrInvalidCapability too), an empty
	// ID, an ID longer than MaxIDLen or not valid UTF-8, or a nil payload.
	ErrInvalidRequest = errors.New("mesh: invalid request")
	// ErrNoNode reports that no node of the cluster, as this node sees it,
	// offers the requested capability.
	ErrNoNode = errors.New("mesh: no node offers the capability")
	// ErrNoOwner reports that nodes offer the requested capability but
	// none may own its shards: none that offers it carries the labels it
	// requires (Capability.Requires), or all of those are draining. The
	// error names the requirement and why each member is off the ring. It
	// wraps ErrNoNode.
	ErrNoOwner error = &childError{msg: "mesh: no node may own the capability's shards", parent: ErrNoNode}
	// ErrConflictingRequirement reports a capability registered with a
	// label requirement other than the one a member of the cluster
	// declared for it.
	ErrConflictingRequirement = errors.New("mesh: capability registered elsewhere with another label requirement")
	// ErrDeadlineExceeded reports a call that did not end by its deadline,
	// or a Call or Cast whose deadline had passed before it began (nothing
	// is sent then). It wraps context.DeadlineExceeded.
	ErrDeadlineExceeded = fmt.Errorf("mesh: deadline exceeded: %w", context.DeadlineExceeded)
	// ErrCanceled reports a Call or Cast whose context was canceled before
	// it ended. It wraps context.Canceled.
	ErrCanceled = fmt.Errorf("mesh: canceled: %w", context.Canceled)
	// ErrUnreachable reports an owner node that cannot be reached, or a
	// member that does not answer a Ping. It is returned together with
	// ErrDeadlineExceeded when a remote owner was sent the call and did not
	// answer before the deadline passed.
	ErrUnreachable = errors.New("mesh: owner unreachable")
	// ErrProcessFailed reports a process that panicked while handling the
	// message. No other process is affected; the process is made again on
	// its next message.
	ErrProcessFailed = actor.ErrProcessFailed
	// ErrBadPayload reports a payload or reply that cannot be encoded or
	// decoded, such as a message type the receiving node does not know,
	// or an answer of a kind this node does not understand.
	ErrBadPayload = errors.New("mesh: undecodable payload")
	// ErrPayloadTooLarge reports a payload or a reply over
	// Config.MaxPayload; nothing is sent.
	ErrPayloadTooLarge = wire.ErrPayloadTooLarge
	// ErrOverloaded reports an owner node whose send queue on this node is
	// full: it does not take messages as fast as this node sends them; or
	// a process that holds as many messages as it may while it waits for
	// its handed-off state. The message was not handled; try again later
	// or shed load.
	ErrOverloaded = errors.New("mesh: send queue to the owner is full")
	// ErrStore reports a process whose state Config.Store could not load,
	// or that could not restore the state loaded (the message was not
	// handled; the next one tries again, and the stored state is kept).
	ErrStore = activation.ErrStore
	// ErrNoQuorum reports a node that sees fewer than a majority of the
	// cluster (PartitionMajority): it neither makes calls nor serves them
	// until it sees one again.
	ErrNoQuorum = errors.New("mesh: no majority of the cluster in sight")
	// ErrBroadcastIncomplete reports a Broadcast that some node offering
	// the capability did not take; the error wraps each node's error too,
	// and the BroadcastResult returned with it says who was reached.
	ErrBroadcastIncomplete = errors.New("mesh: broadcast did not reach every node offering the capability")
	// ErrUnknownMember reports a node name that is not a member of the
	// cluster as this node sees it.
	ErrUnknownMember = errors.New("mesh: no such member")
	// ErrClosed reports use of a Node after Close began.
	ErrClosed = errors.New("mesh: node closed")
	// ErrNoDefaultNode reports a package-level call made before any node
	// was started or set as the default.
	ErrNoDefaultNode = errors.New("mesh: no default node (call mesh.Start or mesh.SetDefault first)")
	// ErrInvalidConfig reports a Config that Start refuses.
	ErrInvalidConfig = errors.New("mesh: invalid config")
	// ErrStart reports a node that could not start although its Config is
	// valid: an address it cannot listen on, or Start's ctx ending first
	// (the error then wraps ctx's error too). Start undoes what it began.
	ErrStart = errors.New("mesh: node did not start")
	// ErrDrainIncomplete reports a Close that stopped the node without a
	// complete drain: its ctx ended first (the error then wraps ctx's error
	// too), or the cluster could not be told that the node leaves. The node
	// is stopped all the same; peers route around it once they detect it.
	ErrDrainIncomplete = errors.New("mesh: node stopped before its drain completed")
	// ErrNotReady reports that a node should not be sent traffic yet, or
	// any more (Node.Ready); the error says why.
	ErrNotReady = errors.New("mesh: node not ready")
	// ErrInvalidCapability reports a Capability with an invalid name or no
	// factory.
	ErrInvalidCapability = capability.ErrInvalidName
	// ErrDuplicateCapability reports a capability registered twice on
	// one node.
	ErrDuplicateCapability = capability.ErrDuplicate
	// ErrMetaTooLarge reports capabilities and labels that do not fit in
	// the 512 bytes of gossip metadata a node has.
	ErrMetaTooLarge = cluster.ErrMetaTooLarge
)

// childError is a sentinel that also matches its parent with errors.Is.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// ProcessError is an error a Process returned from Handle. On the caller's
// node it unwraps to the process's own error; from another node only its
// text arrives.
type ProcessError = actor.ProcessError

// failureError turns a Failure from the wire into the caller's error.
func failureError(req *Request, owner string, f *wire.Failure) error {
	switch f.Code {
	case wire.Code_CODE_APPLICATION:
		return &ProcessError{Capability: req.Capability, ID: req.ID, Msg: f.Message}
	case wire.Code_CODE_PROCESS_FAILED:
		return fmt.Errorf("%w: on %s: %s", ErrProcessFailed, owner, f.Message)
	case wire.Code_CODE_BAD_PAYLOAD:
		return fmt.Errorf("%w: %s answered: %s", ErrBadPayload, owner, f.Message)
	case wire.Code_CODE_INVALID_REQUEST:
		return fmt.Errorf("%w: %s answered: %s", ErrInvalidRequest, owner, f.Message)
	case wire.Code_CODE_NO_CAPABILITY:
		return fmt.Errorf("%w: %s answered: %s", ErrNoNode, owner, f.Message)
	case wire.Code_CODE_CLOSED:
		return fmt.Errorf("%w: %s is closing", ErrUnreachable, owner)
	case wire.Code_CODE_PAYLOAD_TOO_LARGE:
		return fmt.Errorf("%w: %s answered: %s", ErrPayloadTooLarge, owner, f.Message)
	case wire.Code_CODE_NO_QUORUM:
		return fmt.Errorf("%w: %s answered: %s", ErrNoQuorum, owner, f.Message)
	case wire.Code_CODE_STORE:
		return fmt.Errorf("%w: %s answered: %s", ErrStore, owner, f.Message)
	case wire.Code_CODE_OVERLOADED:
		return fmt.Errorf("%w: %s answered: %s", ErrOverloaded, owner, f.Message)
	case wire.Code_CODE_DEADLINE:
		return fmt.Errorf("%w: %s answered: %s", ErrDeadlineExceeded, owner, f.Message)
	}
	return fmt.Errorf("%w: %s answered with failure %v: %s", ErrBadPayload, owner, f.Code, f.Message)
}
