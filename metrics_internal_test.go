package mesh

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestOutcomeOf: every error a call can end with has its outcome label.
func TestOutcomeOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, outcomeOK},
		{&ProcessError{Capability: "c", ID: "i", Msg: "no"}, outcomeProcessError},
		{fmt.Errorf("%w: boom", ErrProcessFailed), outcomeProcessFailed},
		{fmt.Errorf("%w: c/i: %w: n did not answer", ErrDeadlineExceeded, ErrUnreachable), outcomeUnreachable},
		{fmt.Errorf("%w: c/i", ErrDeadlineExceeded), outcomeDeadline},
		{fmt.Errorf("mesh: call canceled: %w", context.Canceled), outcomeCanceled},
		{fmt.Errorf("%w: %q", ErrNoNode, "c"), outcomeNoNode},
		{fmt.Errorf("%w: x", ErrBadPayload), outcomeBadPayload},
		{fmt.Errorf("%w: x", ErrInvalidRequest), outcomeInvalid},
		{ErrClosed, outcomeClosed},
		{errors.New("something else"), outcomeError},
	} {
		if got := outcomeOf(tt.err); got != tt.want {
			t.Errorf("outcomeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestCapabilityLabelsBounded: past maxCapabilityLabels capabilities,
// further ones share the "other" series.
func TestCapabilityLabelsBounded(t *testing.T) {
	m := newMetrics(&Node{})
	for i := range maxCapabilityLabels + 10 {
		m.called(fmt.Sprint("cap-", i), 0, nil)
	}
	if got := len(*m.caps.Load()); got != maxCapabilityLabels+1 {
		t.Fatalf("%d capabilities with series, want %d and other", got, maxCapabilityLabels)
	}
	if m.capability("cap-0") == m.capability("cap-300") || m.capability("cap-300") != m.capability("cap-301") {
		t.Fatal("capabilities past the bound do not share the other series")
	}
}
