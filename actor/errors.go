package actor

import (
	"errors"
	"fmt"
)

// ErrProcessFailed reports a process that panicked while handling the
// message, or whose factory did.
var ErrProcessFailed = errors.New("mesh: process failed")

// ProcessError is an error a Process returned from Handle, as its caller
// sees it. In the caller's own node it unwraps to the original error;
// across nodes only the text survives.
type ProcessError struct {
	Capability string
	ID         string
	Msg        string
	Err        error
}

func (e *ProcessError) Error() string {
	return fmt.Sprintf("mesh: process %s/%s: %s", e.Capability, e.ID, e.Msg)
}

// Unwrap returns the Process's own error, when it was returned on this node.
func (e *ProcessError) Unwrap() error { return e.Err }
