package mesh

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/meshrun/mesh/internal/obs"
)

// TestOutcomeOf: every error a call can end with has its outcome label.
func TestOutcomeOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want obs.Outcome
	}{
		{nil, obs.OK},
		{&ProcessError{Capability: "c", ID: "i", Msg: "no"}, obs.ProcessError},
		{fmt.Errorf("%w: boom", ErrProcessFailed), obs.ProcessFailed},
		{fmt.Errorf("%w: c/i: %w: n did not answer", ErrDeadlineExceeded, ErrUnreachable), obs.Unreachable},
		{fmt.Errorf("%w: c/i", ErrDeadlineExceeded), obs.Deadline},
		{fmt.Errorf("mesh: call canceled: %w", context.Canceled), obs.Canceled},
		{fmt.Errorf("%w: %q", ErrNoNode, "c"), obs.NoNode},
		{fmt.Errorf("%w: x", ErrBadPayload), obs.BadPayload},
		{fmt.Errorf("%w: x", ErrInvalidRequest), obs.Invalid},
		{ErrClosed, obs.Closed},
		{fmt.Errorf("%w: queue full", ErrOverloaded), obs.Overloaded},
		{errors.New("something else"), obs.Other},
	} {
		if got := outcomeOf(tt.err); got != tt.want {
			t.Errorf("outcomeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
