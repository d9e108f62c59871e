package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/examples/counter/counterpb"
	"github.com/meshrun/mesh/examples/internal/secure"
)

const (
	// demoNodes is how many nodes the demo starts.
	demoNodes = 3
	// demoIDs is how many counters the demo calls.
	demoIDs = 12
	// demoRounds is how often each counter gets 1 added before a node stops.
	demoRounds = 3
)

// demoResult is what the demo saw, for its test.
type demoResult struct {
	// stopped is the node the demo stopped, killed the one it killed.
	stopped, killed string
	// before, after and final are the last replies per ID before the
	// stop, after it and after the kill; a failed call leaves its ID out.
	before, after, final map[string]*counterpb.Value
}

// runDemo starts demoNodes nodes as child processes (this very program with
// -node) over one SQLite file, joins them with a client node of its own,
// calls demoIDs counters, stops the node that serves most of them, calls
// them again, kills the node that serves most of them then, calls them
// once more and shuts everything down. The report goes to out; the nodes' warnings, prefixed
// with their names, go to logs. It returns an error if any call failed, or
// if the cluster did not form or shrink in time.
//
// With secured, the nodes and the client seal their gossip with a key and
// speak mutual TLS with certificates of a CA, all made for the demo.
func runDemo(ctx context.Context, secured bool, out, logs io.Writer) (*demoResult, error) {
	began := time.Now()
	lw := &lockedWriter{w: logs}
	dir, err := os.MkdirTemp("", "mesh-counter-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "state.db")
	fmt.Fprintf(out, "mesh counter demo: %d nodes, each its own OS process, and this process as a client.\n", demoNodes)
	fmt.Fprintf(out, "The nodes keep every count in one SQLite file, saved after every change: %s\n", db)
	var tlsDir, gossipKey string
	var env []string
	if secured {
		names := []string{"demo-client"}
		for i := range demoNodes {
			names = append(names, fmt.Sprintf("node-%d", i+1))
		}
		gossipKey, err = secure.Make(dir, names...)
		if err != nil {
			return nil, fmt.Errorf("make the demo's secrets: %w", err)
		}
		tlsDir, env = dir, []string{secure.GossipKeyEnv + "=" + gossipKey}
		fmt.Fprintf(out, "Secured: gossip sealed with a key made for the demo (label %q), and mutual TLS between\nnodes with certificates of a CA made for it, in %s.\n", secure.Label, dir)
	}
	fmt.Fprintln(out)

	var children []*child
	defer func() { stopAll(children) }()
	var seeds []string
	for i := range demoNodes {
		c, err := startChild(ctx, fmt.Sprintf("node-%d", i+1), seeds, db, tlsDir, env, lw)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
		seeds = append(seeds, c.gossip)
		fmt.Fprintf(out, "  started %s   pid %-7d gossip %-16s remote %s\n", c.name, c.cmd.Process.Pid, c.gossip, c.remote)
	}

	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = "demo-client"
	cfg.Seeds = seeds
	cfg.Logger = newLogger(&lineWriter{fn: func(s string) { lw.line("[demo-client] ", s) }}, slog.LevelWarn)
	if _, err := secure.Configure(&cfg, gossipKey, tlsDir); err != nil {
		return nil, err
	}
	client, err := mesh.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start the client node: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Close(closeCtx)
	}()
	took, err := waitFor(ctx, 20*time.Second, func() bool {
		return len(offering(client)) == demoNodes && routed(client)
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %d nodes offering %s (client sees %v offering it, routes to %v): %w",
			demoNodes, capabilityName, offering(client), owners(client, 256), err)
	}
	fmt.Fprintf(out, "  the client sees %s offering %q and routes to all of them (%.2fs after it started)\n\n",
		strings.Join(offering(client), ", "), capabilityName, took.Seconds())

	ids := make([]string, demoIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%d", i+1)
	}
	res := &demoResult{before: map[string]*counterpb.Value{}, after: map[string]*counterpb.Value{}, final: map[string]*counterpb.Value{}}
	failed := 0

	fmt.Fprintf(out, "Adding 1 to each of %d counters, %d times. Each ID hashes to a shard, each shard has one owner:\n\n", demoIDs, demoRounds)
	errs := map[string]error{}
	for range demoRounds {
		for _, id := range ids {
			v, err := add(ctx, client, id)
			if err != nil {
				errs[id] = err
				delete(res.before, id)
				continue
			}
			res.before[id] = v
		}
	}
	t := newTable(out, "  ID", "SERVED BY", "COUNT")
	held := map[string]int{}
	for _, id := range ids {
		if v, ok := res.before[id]; ok {
			t.row("  "+id, v.GetNode(), v.GetValue())
			held[v.GetNode()]++
			continue
		}
		failed++
		t.row("  "+id, "error: "+errs[id].Error(), "")
	}
	_ = t.flush()
	var counts []string
	for _, c := range children {
		counts = append(counts, fmt.Sprintf("%s %d", c.name, held[c.name]))
	}
	fmt.Fprintf(out, "\n  counters per node: %s\n\n", strings.Join(counts, ", "))

	victim := children[0]
	for _, c := range children {
		if held[c.name] > held[victim.name] {
			victim = c
		}
	}
	res.stopped = victim.name
	fmt.Fprintf(out, "Stopping %s gracefully (SIGTERM): it gossips that it is draining, the others route\naround it, then it leaves the cluster.\n\n", victim.name)
	if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return res, fmt.Errorf("signal %s: %w", victim.name, err)
	}
	var sawDraining time.Duration
	stopAt := time.Now()
	took, err = waitFor(ctx, 20*time.Second, func() bool {
		for _, m := range client.Members() {
			if m.Name == victim.name {
				if m.Draining && sawDraining == 0 {
					sawDraining = time.Since(stopAt)
				}
				return false
			}
		}
		return true
	})
	if err != nil {
		return res, fmt.Errorf("waiting for %s to leave the client's view: %w", victim.name, err)
	}
	if sawDraining > 0 {
		fmt.Fprintf(out, "  the client saw %s draining after %.2fs and gone after %.2fs\n", victim.name, sawDraining.Seconds(), took.Seconds())
	} else {
		fmt.Fprintf(out, "  the client saw %s gone after %.2fs\n", victim.name, took.Seconds())
	}
	if err := victim.wait(15 * time.Second); err != nil {
		fmt.Fprintf(out, "  %s did not exit cleanly: %v\n\n", victim.name, err)
	} else {
		fmt.Fprintf(out, "  %s exited cleanly\n\n", victim.name)
	}

	fmt.Fprintf(out, "Adding 1 to each counter again, from the same client:\n\n")
	t = newTable(out, "  ID", "BEFORE", "COUNT", "AFTER", "COUNT", "")
	moved, movedOff := 0, 0
	for _, id := range ids {
		before := []any{"-", ""}
		if v, ok := res.before[id]; ok {
			before = []any{v.GetNode(), v.GetValue()}
		}
		v, err := add(ctx, client, id)
		if err != nil {
			failed++
			t.row(append(append([]any{"  " + id}, before...), "error: "+err.Error(), "", "")...)
			continue
		}
		res.after[id] = v
		note := ""
		if b, ok := res.before[id]; ok && b.GetNode() != v.GetNode() {
			note = "moved"
			moved++
			if b.GetNode() == victim.name {
				movedOff++
			}
		}
		t.row(append(append([]any{"  " + id}, before...), v.GetNode(), v.GetValue(), note)...)
	}
	_ = t.flush()
	switch {
	case moved == movedOff:
		fmt.Fprintf(out, "\n  %d counters moved off %s", moved, victim.name)
	default:
		fmt.Fprintf(out, "\n  %d counters moved, %d of them off %s", moved, movedOff, victim.name)
	}
	fmt.Fprintf(out, " and kept their counts: %s handed their state to their new owners as it left.\n\n", victim.name)

	held = map[string]int{}
	for _, v := range res.after {
		held[v.GetNode()]++
	}
	var killed *child
	for _, c := range children {
		if c != victim && (killed == nil || held[c.name] > held[killed.name]) {
			killed = c
		}
	}
	res.killed = killed.name
	fmt.Fprintf(out, "Killing %s with SIGKILL, as a crash would: no drain, no handoff, no goodbye.\n\n", killed.name)
	if err := killed.cmd.Process.Kill(); err != nil {
		return res, fmt.Errorf("kill %s: %w", killed.name, err)
	}
	<-killed.done
	took, err = waitFor(ctx, 30*time.Second, func() bool {
		return !slices.Contains(offering(client), killed.name) && routed(client)
	})
	if err != nil {
		return res, fmt.Errorf("waiting for the client to route around %s: %w", killed.name, err)
	}
	fmt.Fprintf(out, "  the client's failure detection found %s dead and routes around it after %.2fs\n\n", killed.name, took.Seconds())

	fmt.Fprintf(out, "Adding 1 to each counter once more:\n\n")
	t = newTable(out, "  ID", "BEFORE", "COUNT", "AFTER", "COUNT", "")
	stored := 0
	for _, id := range ids {
		before := []any{"-", ""}
		b, ok := res.after[id]
		if ok {
			before = []any{b.GetNode(), b.GetValue()}
		}
		v, err := add(ctx, client, id)
		if err != nil {
			failed++
			t.row(append(append([]any{"  " + id}, before...), "error: "+err.Error(), "", "")...)
			continue
		}
		res.final[id] = v
		note := ""
		if ok && b.GetNode() == killed.name {
			note = "from SQLite"
			stored++
		}
		t.row(append(append([]any{"  " + id}, before...), v.GetNode(), v.GetValue(), note)...)
	}
	_ = t.flush()
	fmt.Fprintf(out, "\n  %d counters of the killed %s came back on the others with their counts: each\n  was saved to SQLite before its last reply, and its new owner loaded it.\n\n", stored, killed.name)

	// One at a time, the last started first, so that the seeds a node
	// joined through are still there when it leaves: a node that leaves
	// while its peers are leaving too has nobody left to hear its goodbye.
	fmt.Fprintf(out, "Shutting down the client, then the other nodes, one by one. The last to go may warn that it\nsees no majority: %s failed rather than left, so the others count it for a while yet.\n", killed.name)
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Close(closeCtx); err != nil {
		fmt.Fprintf(out, "  client: %v\n", err)
	}
	for _, c := range slices.Backward(children) {
		if c == victim || c == killed {
			continue
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		if err := c.wait(15 * time.Second); err != nil {
			fmt.Fprintf(out, "  %s did not exit cleanly: %v\n", c.name, err)
		}
	}
	fmt.Fprintf(out, "Done in %.1fs.\n", time.Since(began).Seconds())
	if failed > 0 {
		return res, fmt.Errorf("%d calls failed", failed)
	}
	return res, nil
}

// child is a node the demo runs as a child process.
type child struct {
	name   string
	cmd    *exec.Cmd
	gossip string
	remote string
	// stdin is the write end of the child's standard input: the child
	// stops when it closes, so that it never outlives the demo.
	stdin *os.File
	done  chan struct{}
	// err is the result of Wait, set before done is closed.
	err error
}

// startChild starts this program as the node name, joining seeds, keeping
// its counts in the SQLite file db, with the certificates of tlsDir ("" for
// none) and env added to its environment, and returns once the node
// serves. Its standard error goes to logs, each line
// prefixed with its name.
func startChild(ctx context.Context, name string, seeds []string, db, tlsDir string, env []string, logs *lockedWriter) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run its nodes: %w", err)
	}
	args := []string{"-node", name, "-gossip", "127.0.0.1:0", "-remote", "127.0.0.1:0", "-store", db, "-exit-on-eof"}
	if tlsDir != "" {
		args = append(args, "-tls-dir", tlsDir)
	}
	if len(seeds) > 0 {
		args = append(args, "-seeds", strings.Join(seeds, ","))
	}
	c := &child{name: name, cmd: exec.Command(exe, args...), done: make(chan struct{})}
	// The gossip key goes in the environment, never in the arguments,
	// which every user of the machine can read.
	c.cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	stdin, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.stdin = w
	c.cmd.Stdin = stdin
	type addrs struct{ gossip, remote string }
	ready := make(chan addrs, 1)
	stdout := &lineWriter{fn: func(line string) {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == name && f[1] == "ready" &&
			strings.HasPrefix(f[2], "gossip=") && strings.HasPrefix(f[3], "remote=") {
			select {
			case ready <- addrs{strings.TrimPrefix(f[2], "gossip="), strings.TrimPrefix(f[3], "remote=")}:
			default:
			}
		}
	}}
	stderr := &lineWriter{fn: func(line string) { logs.line("["+name+"] ", line) }}
	c.cmd.Stdout, c.cmd.Stderr = stdout, stderr
	c.cmd.WaitDelay = 5 * time.Second
	err = c.cmd.Start()
	_ = stdin.Close()
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		stdout.flush()
		stderr.flush()
		close(c.done)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case a := <-ready:
		c.gossip, c.remote = a.gossip, a.remote
		return c, nil
	case <-c.done:
		_ = w.Close()
		return nil, fmt.Errorf("%s exited before serving: %v", name, c.err)
	case <-timer.C:
		err = fmt.Errorf("%s did not start within 30s", name)
	case <-ctx.Done():
		err = fmt.Errorf("start %s: %w", name, ctx.Err())
	}
	stopAll([]*child{c})
	return nil, err
}

// wait waits up to timeout for the child to exit, then kills it.
func (c *child) wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
		_ = c.stdin.Close()
		return c.err
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.done
		_ = c.stdin.Close()
		return fmt.Errorf("still running after %v: killed", timeout)
	}
}

// stopAll stops the children that still run: SIGTERM, and SIGKILL for
// those still there after 15 s.
func stopAll(children []*child) {
	var wg sync.WaitGroup
	for _, c := range children {
		select {
		case <-c.done:
			_ = c.stdin.Close()
			continue
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		wg.Go(func() { _ = c.wait(15 * time.Second) })
	}
	wg.Wait()
}

// lockedWriter writes whole lines from several goroutines.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) line(prefix, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s%s\n", prefix, s)
}

// lineWriter calls fn with every complete line written to it.
type lineWriter struct {
	mu  sync.Mutex // guards buf
	buf []byte
	fn  func(string)
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	for {
		i := slices.Index(lw.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		lw.fn(strings.TrimRight(string(lw.buf[:i]), "\r"))
		lw.buf = lw.buf[i+1:]
	}
}

// flush passes on a last line that has no newline.
func (lw *lineWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) > 0 {
		lw.fn(string(lw.buf))
		lw.buf = nil
	}
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...any) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return errors.Join(errors.New("print table"), err)
	}
	return nil
}
