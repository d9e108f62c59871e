package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// childEnv, when set, makes the test binary a child process of the
// multi-process tests: its value is "role path index".
const childEnv = "MESH_SQLITE_TEST_CHILD"

// TestMain runs a child's role if the test binary is one, else the tests,
// checking that no goroutine outlives them (every Store's committer and
// connections end in Close).
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v))
	}
	serveNode()
	goleak.VerifyTestMain(m,
		// memberlist's Shutdown does not wait for a probe in flight; it
		// ends by itself within a probe interval.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// The workload of one child of TestProcesses.
const (
	children     = 3
	ownKeys      = 20 // keys only this child writes
	ownVersions  = 15 // versions of each
	sharedKeys   = 3  // counters every child increments
	increments   = 150
	maxStaleRuns = 100_000 // stale retries of one increment
)

// child runs a child's role and returns its exit code; it says what went
// wrong on stderr.
func child(v string) int {
	f := strings.SplitN(v, " ", 3)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "bad %s %q\n", childEnv, v)
		return 2
	}
	role, idx, path := f[0], f[1], f[2]
	if role == "holder" {
		return holder(path)
	}
	sync := sqlite.SyncFull
	if role == "acker" {
		sync = sqlite.SyncNormal
	}
	s, err := sqlite.Open(path, sqlite.WithBusyTimeout(time.Minute), sqlite.WithSync(sync))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	ctx := context.Background()
	switch role {
	case "writer":
		err = writer(ctx, s, idx)
	case "acker":
		err = acker(ctx, s, idx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func ownKey(idx string, i int) store.Key {
	return store.Key{Capability: "own", ID: fmt.Sprintf("p%s-k%d", idx, i)}
}

func sharedKey(i int) store.Key {
	return store.Key{Capability: "shared", ID: fmt.Sprint("counter-", i)}
}

func ownData(k store.Key, v uint64) []byte { return []byte(fmt.Sprint(k.String(), "@", v)) }

// writer interleaves saves of its own keys with increments of the shared
// counters, each increment a Load and a Save of the next version, again
// on ErrStale.
func writer(ctx context.Context, s *sqlite.Store, idx string) error {
	own, stale := 0, 0
	for step := 0; own < ownKeys*ownVersions || step < increments; step++ {
		if own < ownKeys*ownVersions {
			k, v := ownKey(idx, own%ownKeys), uint64(own/ownKeys+1)
			if err := s.Save(ctx, k, store.Record{Version: v, Type: "test.own", Format: 1, Data: ownData(k, v)}); err != nil {
				return err
			}
			own++
		}
		if step < increments {
			n, err := increment(ctx, s, sharedKey(step%sharedKeys))
			if err != nil {
				return err
			}
			stale += n
		}
	}
	fmt.Println("stale saves:", stale)
	return nil
}

// increment adds one to the counter at k; it returns how many of its
// Saves were stale.
func increment(ctx context.Context, s store.Store, k store.Key) (stale int, err error) {
	for ; stale < maxStaleRuns; stale++ {
		rec, err := s.Load(ctx, k)
		var n uint64
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return stale, err
		default:
			if n, err = strconv.ParseUint(string(rec.Data), 10, 64); err != nil {
				return stale, fmt.Errorf("counter %q holds %q", k.String(), rec.Data)
			}
		}
		err = s.Save(ctx, k, store.Record{Version: rec.Version + 1, Data: []byte(strconv.FormatUint(n+1, 10))})
		if !errors.Is(err, store.ErrStale) {
			return stale, err
		}
	}
	return stale, fmt.Errorf("increment of %q still stale after %d tries", k.String(), maxStaleRuns)
}

// holder takes the database's write lock, writes a row in the open
// transaction, says "held" and waits to be killed.
func holder(path string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(60000)")
	if err == nil {
		_, err = db.Exec("BEGIN IMMEDIATE; INSERT INTO mesh_records_v1 VALUES (CAST('own' AS BLOB), CAST('uncommitted' AS BLOB), 1, 1, X'', 0, X'')")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("held")
	select {}
}

// acker saves the next versions of a few keys without end, printing
// "key version" on stdout after each Save returns, until it is killed.
func acker(ctx context.Context, s *sqlite.Store, idx string) error {
	out := bufio.NewWriter(os.Stdout)
	for v := uint64(1); ; v++ {
		for i := range 4 {
			k := ownKey(idx, i)
			if err := s.Save(ctx, k, store.Record{Version: v, Data: ownData(k, v)}); err != nil {
				return err
			}
			fmt.Fprintln(out, i, v)
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
}

// startChild starts the test binary as a child in role.
func startChild(t *testing.T, ctx context.Context, role string, idx int, path string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", childEnv, role, idx, path))
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	return cmd, stderr
}

// Three processes open a new database file at once and write it, each
// its own keys and all the same counters (by Load and Save, again on
// ErrStale); afterwards every key holds its last version, every counter
// holds the number of increments made and a version equal to it, and
// SQLite finds the file sound.
func TestProcesses(t *testing.T) {
	// The file does not exist yet: the children race to create it too.
	path := dbPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr *strings.Builder
	}
	var procs []proc
	for i := range children {
		cmd, stderr := startChild(t, ctx, "writer", i, path)
		stdout := new(strings.Builder)
		cmd.Stdout = stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{cmd, stdout, stderr})
	}
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v: %s", i, err, p.stderr)
		}
		t.Logf("child %d: %s", i, strings.TrimSpace(p.stdout.String()))
	}
	if t.Failed() {
		return
	}

	s := mustOpen(t, path)
	for c := range children {
		for i := range ownKeys {
			k := ownKey(strconv.Itoa(c), i)
			got := load(t, s, k)
			if got.Version != ownVersions || string(got.Data) != string(ownData(k, ownVersions)) || got.Type != "test.own" || got.Format != 1 {
				t.Errorf("%q = %+v; want version %d", k.String(), got, ownVersions)
			}
		}
	}
	var total uint64
	for i := range sharedKeys {
		k := sharedKey(i)
		got := load(t, s, k)
		n, err := strconv.ParseUint(string(got.Data), 10, 64)
		if err != nil || n != got.Version {
			t.Errorf("%q = %+v: the count and the version differ", k.String(), got)
		}
		if want := uint64(children * increments / sharedKeys); n != want {
			t.Errorf("%q counts %d; want %d", k.String(), n, want)
		}
		total += n
	}
	if total != children*increments {
		t.Errorf("the counters sum to %d; want %d", total, children*increments)
	}
	wantIntegrity(t, path)
}

// wantIntegrity fails the test unless SQLite's integrity_check passes.
func wantIntegrity(t *testing.T, path string) {
	t.Helper()
	var res string
	if err := rawDB(t, path).QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check: %s", res)
	}
}

// acking is a running acker child and what it has acknowledged.
type acking struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	lines  *bufio.Scanner
	acked  map[int]uint64 // key index -> last version acknowledged
}

func startAcker(t *testing.T, ctx context.Context, idx int, path string) *acking {
	t.Helper()
	cmd, stderr := startChild(t, ctx, "acker", idx, path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &acking{cmd: cmd, stderr: stderr, lines: bufio.NewScanner(out), acked: map[int]uint64{}}
}

// read reads n acknowledgements, or all that are left if n < 0; it
// reports false if the child's output ended first.
func (a *acking) read(t *testing.T, n int) bool {
	t.Helper()
	for ; n != 0; n-- {
		if !a.lines.Scan() {
			return false
		}
		var i int
		var v uint64
		if _, err := fmt.Sscan(a.lines.Text(), &i, &v); err != nil {
			if n < 0 {
				return true // a line cut by the kill
			}
			t.Fatalf("child says %q", a.lines.Text())
		}
		a.acked[i] = v
	}
	return true
}

// kill kills the child with SIGKILL and reads what it acknowledged before.
func (a *acking) kill(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.read(t, -1)
	if err := a.cmd.Wait(); err == nil {
		t.Fatalf("the child was not killed: %s", a.stderr)
	}
}

// A process killed with SIGKILL while it saves (with SyncNormal, the
// weaker setting) loses no Save that returned: each key holds at least
// the last version acknowledged, with its data, and the file is sound.
// Another process writing the same file meanwhile goes on after the kill,
// whatever the killed one held.
func TestKillLosesNoAcknowledgedSave(t *testing.T) {
	path := dbPath(t)
	mustOpen(t, path).Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for round := range 3 {
		victim, survivor := startAcker(t, ctx, 2*round, path), startAcker(t, ctx, 2*round+1, path)
		if !victim.read(t, 200*(round+1)) || !survivor.read(t, 1) {
			t.Fatalf("round %d: a child stopped: %s%s", round, victim.stderr, survivor.stderr)
		}
		victim.kill(t)
		// The survivor acknowledges saves made after the kill: versions
		// past the one stored once the victim is dead (its output may
		// still hold lines from before).
		s := mustOpen(t, path)
		first := ownKey(strconv.Itoa(2*round+1), 0)
		after := load(t, s, first).Version
		for survivor.acked[0] <= after+10 {
			if !survivor.read(t, 1) {
				t.Fatalf("round %d: the survivor stopped after the kill: %s", round, survivor.stderr)
			}
		}
		survivor.kill(t)

		for c, a := range map[int]*acking{2 * round: victim, 2*round + 1: survivor} {
			for i, v := range a.acked {
				k := ownKey(strconv.Itoa(c), i)
				got := load(t, s, k)
				if got.Version < v || string(got.Data) != string(ownData(k, got.Version)) {
					t.Fatalf("round %d: %q = %+v after the kill; %d was acknowledged", round, k.String(), got, v)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wantIntegrity(t, path)
	}
}

// A process killed with SIGKILL in the middle of a write transaction
// leaves the lock with it: a write waiting in another process goes on,
// and the killed one's uncommitted row is not there.
func TestKillWhileHoldingTheLock(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path, sqlite.WithBusyTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd, stderr := startChild(t, ctx, "holder", 0, path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("the holder says %q, %v: %s", line, err, stderr)
	}
	k := store.Key{Capability: "own", ID: "waiting"}
	saved := make(chan error, 1)
	go func() { saved <- s.Save(ctx, k, store.Record{Version: 1, Data: []byte("after the kill")}) }()
	select {
	case err := <-saved:
		t.Fatalf("Save while another process holds the lock returned at once: %v", err)
	case <-time.After(100 * time.Millisecond): // waiting, as it should
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := <-saved; err != nil {
		t.Fatalf("Save after the holder was killed: %v", err)
	}
	if got := load(t, s, k); string(got.Data) != "after the kill" {
		t.Fatalf("loads %+v", got)
	}
	if rec, err := s.Load(ctx, store.Key{Capability: "own", ID: "uncommitted"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the killed process's uncommitted row: %+v, %v; want ErrNotFound", rec, err)
	}
	wantIntegrity(t, path)
}
