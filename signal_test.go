package mesh_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// TestCloseOnSIGTERM stops a node process as Kubernetes stops a pod: with
// SIGTERM, and SIGKILL after the grace period. The node (CloseOnSignal,
// 10 s) must drain and exit by itself well within it, with every
// increment a client made meanwhile kept: its counters are handed to the
// node that stays. Its /readyz, polled from the signal on, never answers
// 200 again once it has answered 503.
func TestCloseOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OS processes")
	}
	const grace = 15 * time.Second // > the child's 10 s CloseOnSignal timeout
	client := startNode(t, "client", nil)
	startNode(t, "peer", []string{client.GossipAddr()}, counters)
	pod := startChild(t, "pod", "", []string{client.GossipAddr()})
	waitOffering(t, client, "counter", 2)
	waitFor(t, 10*time.Second, "the pod to be ready", func() bool {
		return adminGet(t, pod.admin, "/readyz", nil) == http.StatusOK
	})
	load := startCounterLoad(client, 200, 8)
	time.Sleep(300 * time.Millisecond)

	var probes struct {
		sync.Mutex
		codes []int
	}
	stopProbes := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		c := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-stopProbes:
				return
			case <-time.After(20 * time.Millisecond):
			}
			code := 0 // no answer: the endpoint is gone
			if resp, err := c.Get("http://" + pod.admin + "/readyz"); err == nil {
				code = resp.StatusCode
				_ = resp.Body.Close()
			}
			probes.Lock()
			probes.codes = append(probes.codes, code)
			probes.Unlock()
		}
	})

	start := time.Now()
	if err := pod.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var result string
	select {
	case result = <-pod.closed:
	case <-time.After(grace):
		_ = pod.cmd.Process.Kill()
		t.Fatalf("the pod did not close within the %v grace period", grace)
	}
	if err := pod.cmd.Wait(); err != nil {
		t.Fatalf("the pod exited with %v", err)
	}
	took := time.Since(start)
	close(stopProbes)
	wg.Wait()
	if result != "ok" {
		t.Fatalf("CloseOnSignal: %s", result)
	}
	waitOffering(t, client, "counter", 1)
	load.finish(t)

	seen503, ready := false, 0
	for _, code := range probes.codes {
		switch {
		case code == http.StatusServiceUnavailable:
			seen503 = true
		case code == http.StatusOK && seen503:
			t.Fatalf("/readyz answered 200 after 503: %v", probes.codes)
		case code == http.StatusOK:
			ready++
		}
	}
	t.Logf("SIGTERM to exit: %v; /readyz polled %d times: %d times 200 before the signal was handled, 503 seen: %v",
		took.Round(time.Millisecond), len(probes.codes), ready, seen503)
	if !seen503 {
		t.Errorf("/readyz never answered 503 between SIGTERM and the exit: %v", probes.codes)
	}
}

// TestCloseOnSignalContext: without a signal, CloseOnSignal closes the
// node when ctx ends.
func TestCloseOnSignalContext(t *testing.T) {
	n := startNode(t, "n", nil, echo("n"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.CloseOnSignal(ctx, 5*time.Second) }()
	select {
	case err := <-done:
		t.Fatalf("CloseOnSignal returned %v before ctx ended", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := n.Call(context.Background(), mesh.Request{Capability: "echo", ID: "a", Payload: wrapString("x")}); !errors.Is(err, mesh.ErrClosed) {
		t.Fatalf("call after CloseOnSignal: %v, want ErrClosed", err)
	}
}
