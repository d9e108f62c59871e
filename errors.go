package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/cluster"
)

// Errors returned by mesh. Match them with errors.Is: the errors a call
// returns wrap one of these with the details of the case.
var (
	// ErrInvalidRequest reports a Request with an empty or invalid
	// capability name, an empty ID, an ID longer than MaxIDLen, or a nil
	// payload.
	ErrInvalidRequest = errors.New("mesh: invalid request")
	// ErrNoNode reports that no node of the cluster, as this node sees it,
	// offers the requested capability.
	ErrNoNode = errors.New("mesh: no node offers the capability")
	// ErrDeadlineExceeded reports a call that did not end by its deadline.
	// It wraps context.DeadlineExceeded.
	ErrDeadlineExceeded = fmt.Errorf("mesh: deadline exceeded: %w", context.DeadlineExceeded)
	// ErrUnreachable reports an owner node that cannot be reached. It is
	// returned together with ErrDeadlineExceeded when the owner stopped
	// answering before the deadline passed.
	ErrUnreachable = errors.New("mesh: owner unreachable")
	// ErrProcessFailed reports a process that panicked while handling the
	// message. No other process is affected; the process is made again on
	// its next message.
	ErrProcessFailed = actor.ErrProcessFailed
	// ErrBadPayload reports a payload or reply that cannot be encoded or
	// decoded, such as a message type the receiving node does not know.
	ErrBadPayload = errors.New("mesh: undecodable payload")
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

// ProcessError is an error a Process returned from Handle. On the caller's
// node it unwraps to the process's own error; from another node only its
// text arrives.
type ProcessError = actor.ProcessError

// failureError turns a Failure from the wire into the caller's error.
func failureError(req *Request, owner string, f *cluster.Failure) error {
	switch f.Code {
	case cluster.Code_CODE_APPLICATION:
		return &ProcessError{Capability: req.Capability, ID: req.ID, Msg: f.Message}
	case cluster.Code_CODE_PROCESS_FAILED:
		return fmt.Errorf("%w: on %s: %s", ErrProcessFailed, owner, f.Message)
	case cluster.Code_CODE_BAD_PAYLOAD:
		return fmt.Errorf("%w: %s answered: %s", ErrBadPayload, owner, f.Message)
	case cluster.Code_CODE_INVALID_REQUEST:
		return fmt.Errorf("%w: %s answered: %s", ErrInvalidRequest, owner, f.Message)
	case cluster.Code_CODE_NO_CAPABILITY:
		return fmt.Errorf("%w: %s answered: %s", ErrNoNode, owner, f.Message)
	case cluster.Code_CODE_CLOSED:
		return fmt.Errorf("%w: %s is closing", ErrUnreachable, owner)
	}
	return fmt.Errorf("mesh: %s answered with failure %v: %s", owner, f.Code, f.Message)
}
