package mesh

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
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
	if got := len(*m.caps.Load()); got != maxCapabilityLabels {
		t.Fatalf("%d capabilities with series, want %d", got, maxCapabilityLabels)
	}
	if m.capability("cap-0") == m.capability("cap-300") || m.capability("cap-300") != m.capability("cap-301") {
		t.Fatal("capabilities past the bound do not share the other series")
	}
}

// TestCapabilityNamedOtherHasItsOwnSeries: a real capability named like
// the overflow label does not make later capabilities share its series
// while there is room for theirs.
func TestCapabilityNamedOtherHasItsOwnSeries(t *testing.T) {
	m := newMetrics(&Node{})
	other := m.capability(otherCapability)
	if m.capability("chat") == other {
		t.Fatal("a capability got the series of the capability named other")
	}
}

// TestUnknownCapabilityTakesNoLock: once the capabilities with series of
// their own are used up, a call naming yet another one is counted without
// the lock that adding a capability takes (DESIGN.md: nothing on the Call
// path takes a global lock).
func TestUnknownCapabilityTakesNoLock(t *testing.T) {
	m := newMetrics(&Node{})
	for i := range maxCapabilityLabels + 1 {
		m.called(fmt.Sprint("cap-", i), 0, nil)
	}
	m.capMu.Lock()
	defer m.capMu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			m.called(fmt.Sprint("made-up-", i), 0, ErrNoNode)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("calls naming unknown capabilities wait for the metrics lock")
	}
}
