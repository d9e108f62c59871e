package admin

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestMark: a marked error keeps its message and what it matched, and
// matches its kind.
func TestMark(t *testing.T) {
	base := fmt.Errorf("ping: %w", context.DeadlineExceeded)
	err := Mark(base, ErrNotFound)
	if err.Error() != base.Error() {
		t.Errorf("message %q, want %q", err, base)
	}
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalid) {
		t.Errorf("%v: matches ErrNotFound %v, DeadlineExceeded %v, ErrInvalid %v", err,
			errors.Is(err, ErrNotFound), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrInvalid))
	}
	if Mark(nil, ErrInvalid) != nil {
		t.Error("Mark(nil) is not nil")
	}
}
