package pgtest

import (
	"os"
	"sync"
	"testing"
)

// shared is the test binary's server, started by the first Shared and
// stopped by Run.
var shared struct {
	mu sync.Mutex
	// guards all below
	main   bool    // Run is running
	srv    *Server // nil until started
	failed string  // why the start failed, if it did: every later Shared fails the same way
}

// Main runs the tests of m with Run and exits with their code. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests of m, then stops and removes the server Shared
// started, if it did, and returns m's code: for a TestMain that does more
// after the tests (a goroutine leak check, say) before it exits.
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.remove()
		shared.srv = nil
	}
	shared.main = false
	return code
}

// Shared returns the test binary's server, starting it on the first call;
// it lives until Run returns. Tests share it, so a test must not stop it
// (take a server of its own with New for that) and should keep to a
// database of its own (NewDatabase). Shared skips the test if PostgreSQL
// is not installed (fails it if CI is "true"), and fails it if the test
// binary's TestMain does not call Main or Run. The goroutine that waits
// for the server's process runs until Run returns: a leak check of each
// test must ignore it.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock() // also when the test is skipped below
	switch {
	case !shared.main:
		tb.Fatal("pgtest: Shared needs pgtest.Main or pgtest.Run: add func TestMain(m *testing.M) { pgtest.Main(m) }")
	case shared.failed != "":
		tb.Fatal(shared.failed)
	case shared.srv != nil:
		return shared.srv
	}
	srv, err := newServer(tb)
	if err != nil {
		shared.failed = err.Error()
		tb.Fatal(err)
	}
	shared.srv = srv
	return srv
}
