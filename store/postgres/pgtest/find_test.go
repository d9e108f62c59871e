package pgtest

import (
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB whose Skip and Fatal record the message and
// end the goroutine, as the real ones do.
type recorder struct {
	testing.TB
	mu             sync.Mutex
	skipped, fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = strings.TrimSpace(sprint(args))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.fatal = strings.TrimSpace(sprint(args))
	r.mu.Unlock()
	runtime.Goexit()
}

func sprint(args []any) string {
	var b strings.Builder
	for _, a := range args {
		if s, ok := a.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// run calls f with a recorder in a goroutine of its own and waits.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// Without PostgreSQL binaries a test is skipped, with a note on how to
// install them, unless CI is "true": then it fails.
func TestNoBinaries(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(BinDirEnv, empty)

	t.Setenv("CI", "")
	r := run(t, func(tb testing.TB) { needBinDir(tb) })
	if r.skipped == "" || r.fatal != "" {
		t.Fatalf("without binaries and CI: skipped %q, failed %q; want a skip", r.skipped, r.fatal)
	}
	for _, want := range []string{"apt-get install postgresql", BinDirEnv, empty} {
		if !strings.Contains(r.skipped, want) {
			t.Errorf("the skip message %q does not say %q", r.skipped, want)
		}
	}

	t.Setenv("CI", "true")
	r = run(t, func(tb testing.TB) { New(tb) })
	if r.fatal == "" || r.skipped != "" {
		t.Fatalf("without binaries on CI: skipped %q, failed %q; want a failure", r.skipped, r.fatal)
	}
}

// The newest of several installed versions is chosen.
func TestVersionOrder(t *testing.T) {
	for _, c := range []struct {
		dir  string
		want float64
	}{
		{"/usr/lib/postgresql/15/bin", 15},
		{"/usr/lib/postgresql/9.6/bin", 9.6},
		{"/usr/pgsql-16/bin", 16},
		{"/usr/lib/postgresql/x/bin", 0},
	} {
		if got := version(c.dir); got != c.want {
			t.Errorf("version(%q) = %v; want %v", c.dir, got, c.want)
		}
	}
}

// Shared without Main (or Run) in TestMain fails the test and says how to
// add it.
func TestSharedNeedsMain(t *testing.T) {
	shared.mu.Lock()
	was := shared.main
	shared.main = false
	shared.mu.Unlock()
	defer func() {
		shared.mu.Lock()
		shared.main = was
		shared.mu.Unlock()
	}()
	r := run(t, func(tb testing.TB) { Shared(tb) })
	if !strings.Contains(r.fatal, "pgtest.Main(m)") {
		t.Fatalf("Shared without Main: failed %q, skipped %q; want a failure naming pgtest.Main", r.fatal, r.skipped)
	}
}
