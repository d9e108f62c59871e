package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
)

// syncBuffer is a bytes.Buffer safe to write from the CLI's goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inProcessNode starts a node in this process, with an admin endpoint
// that needs cliReadSecret when guarded, seeded with seeds.
func inProcessNode(t *testing.T, name string, seeds []string, guarded bool) *mesh.Node {
	t.Helper()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = name
	cfg.Seeds = seeds
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.DrainTimeout = 300 * time.Millisecond
	if guarded {
		cfg.AdminTokens = []admin.Token{{Secret: cliReadSecret}}
	}
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

// watch runs mesh watch with args in the background; its exit code comes
// on the channel returned, and its output in out.
func watch(args ...string) (out, errOut *syncBuffer, code <-chan int) {
	out, errOut = &syncBuffer{}, &syncBuffer{}
	c := make(chan int, 1)
	go func() { c <- run(append([]string{"watch"}, args...), out, errOut) }()
	return out, errOut, c
}

// waitLines waits until out holds lines matching each of want in order
// (each a prefix of a line after its time of day).
func waitLines(t *testing.T, out *syncBuffer, want ...string) {
	t.Helper()
	waitFor(t, 20*time.Second, strings.Join(want, "; "), func() bool {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		i := 0
		for _, l := range lines {
			if _, rest, ok := strings.Cut(l, " "); ok && i < len(want) && strings.HasPrefix(strings.Join(strings.Fields(rest), " "), want[i]) {
				i++
			}
		}
		return i == len(want)
	})
}

// TestWatch: mesh watch, with a read token, prints the member present, a
// join, a change of capabilities, a drain and a graceful leave, one line
// each, in order; it exits 1 when the node ends the stream, and 0 after
// --count events. Without a token it exits 1 saying one is needed.
func TestWatch(t *testing.T) {
	a := inProcessNode(t, "node-1", nil, true)
	addr := "--addr=" + a.AdminAddr()
	if code, _, errOut := cli(addr, "watch"); code != exitFailure || !strings.Contains(errOut, "needs a token") {
		t.Fatalf("without a token: exit %d: %s", code, errOut)
	}
	out, errOut, done := watch(addr, "--token", cliReadSecret)
	waitLines(t, out, "present node-1 (self) capabilities=-")

	b := inProcessNode(t, "node-2", []string{a.GossipAddr()}, false)
	waitLines(t, out, "present node-1", "joined node-2 capabilities=-")
	if err := b.RegisterCapabilities(mesh.Capability{Name: "echo", New: func(string) mesh.Process { return nil }}); err != nil {
		t.Fatal(err)
	}
	waitLines(t, out, "present node-1", "joined node-2", "capabilities_changed node-2 capabilities=echo")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitLines(t, out, "present node-1", "joined node-2", "capabilities_changed node-2", "draining node-2", "left node-2")

	// --count and --json: the first event as the node's JSON.
	code, jsonOut, _ := cli(addr, "--token", cliReadSecret, "watch", "--json", "--count", "1")
	var e admin.Event
	if code != exitOK || json.Unmarshal([]byte(jsonOut), &e) != nil || e.Kind != "present" || e.Member != "node-1" || !e.Self {
		t.Errorf("watch --json --count 1: exit %d: %q", code, jsonOut)
	}

	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-done:
		if c != exitFailure || !strings.Contains(errOut.String(), "ended the stream") {
			t.Errorf("after the node closed: exit %d: %s", c, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end when the node closed")
	}
	if code, _, _ := cli(addr, "watch", "--count", "-1"); code != exitUsage {
		t.Errorf("--count -1: exit %d", code)
	}
}

// TestReadStream: the parser of server-sent events joins data lines,
// skips comments, names unnamed events "message" and dispatches an event
// with empty data.
func TestReadStream(t *testing.T) {
	in := ": hello\n\nevent: a\ndata: 1\ndata: 2\n\ndata: x\n\nevent: e\ndata:\n\n: keepalive\nevent: half"
	var got []string
	err := readStream(strings.NewReader(in), func(name string, data []byte) error {
		got = append(got, name+"="+string(data))
		return nil
	})
	want := []string{"a=1\n2", "message=x", "e="}
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// TestReadStreamBoundsAnEvent: a server that sends an event of endless
// data lines is refused once the event passes the bound, rather than
// held in memory whole.
func TestReadStreamBoundsAnEvent(t *testing.T) {
	line := "data: " + strings.Repeat("x", 1000) + "\n"
	in := strings.NewReader(strings.Repeat(line, 2*maxEventLine/1000))
	err := readStream(in, func(string, []byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("an event of %d bytes: %v, want an error", 2*maxEventLine, err)
	}
}
