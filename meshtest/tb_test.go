package meshtest_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// standIn is a testing.TB for Examples, which get none, and for tests
// of what a Cluster reports through its TB. It runs the cleanups when
// cleanup is called, records errors and panics on Fatal. Methods a
// Cluster does not call are left to the nil TB it embeds.
type standIn struct {
	testing.TB
	mu       sync.Mutex // guards cleanups, errors
	cleanups []func()
	errors   []string
}

func (s *standIn) Helper()                   {}
func (s *standIn) Name() string              { return "stand-in" }
func (s *standIn) Logf(string, ...any)       {}
func (s *standIn) Cleanup(f func())          { s.mu.Lock(); s.cleanups = append(s.cleanups, f); s.mu.Unlock() }
func (s *standIn) Error(args ...any)         { s.record(fmt.Sprint(args...)) }
func (s *standIn) Errorf(f string, a ...any) { s.record(fmt.Sprintf(f, a...)) }
func (s *standIn) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func (s *standIn) record(msg string) {
	s.mu.Lock()
	s.errors = append(s.errors, msg)
	s.mu.Unlock()
}

// cleanup runs the cleanups, the last registered first, and returns the
// errors recorded.
func (s *standIn) cleanup() []string {
	s.mu.Lock()
	fs := slices.Clone(s.cleanups)
	s.cleanups = nil
	s.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errors)
}

// done runs the cleanups and prints the errors recorded, so that an
// Example with errors does not match its output.
func (s *standIn) done() {
	for _, e := range s.cleanup() {
		fmt.Println("error:", e)
	}
}
