package obs

import (
	"fmt"
	"testing"
	"time"
)

// TestCapabilityLabelsBounded: past maxCapabilityLabels capabilities,
// further ones share the "other" series.
func TestCapabilityLabelsBounded(t *testing.T) {
	m := NewMetrics(State{})
	for i := range maxCapabilityLabels + 10 {
		m.Called(fmt.Sprint("cap-", i), 0, 0, OK)
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
	m := NewMetrics(State{})
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
	m := NewMetrics(State{})
	for i := range maxCapabilityLabels + 1 {
		m.Called(fmt.Sprint("cap-", i), 0, 0, OK)
	}
	m.capMu.Lock()
	defer m.capMu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			m.Called(fmt.Sprint("made-up-", i), 0, 0, NoNode)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("calls naming unknown capabilities wait for the metrics lock")
	}
}
