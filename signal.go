package mesh

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// CloseOnSignal blocks until the process receives SIGTERM or SIGINT, or ctx
// ends, then closes the node gracefully within timeout and returns
// Close's result: the node stops being ready (Ready), drains, hands the
// state of its processes to the nodes that take them over, and leaves the
// cluster. A timeout of zero or less leaves Close bounded only by its own
// bounds (see Close and DrainTimeout). Once the first signal has come, the
// process stops catching them, so a second one ends it at once in Go's
// default way, for an operator who will not wait.
//
// Kubernetes sends a pod's containers SIGTERM when it stops the pod, and
// SIGKILL terminationGracePeriodSeconds later (30 s by default): give
// timeout a few seconds less, so that the drain ends, cut short if it
// must, before the kill. The node's admin endpoint answers /readyz with
// 503 from the signal on, and /healthz with 200 until the end, so that
// the liveness probe does not kill a node that is draining.
//
//	n, err := mesh.Start(ctx, cfg)
//	...
//	err = n.CloseOnSignal(ctx, 25*time.Second) // terminationGracePeriodSeconds: 30
func (n *Node) CloseOnSignal(ctx context.Context, timeout time.Duration) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case s := <-sig:
		n.logger.Info("closing on signal", "signal", s.String(), "timeout", timeout)
	case <-ctx.Done():
	}
	signal.Stop(sig)
	closeCtx, cancel := context.Background(), context.CancelFunc(func() {})
	if timeout > 0 {
		closeCtx, cancel = context.WithTimeout(closeCtx, timeout)
	}
	defer cancel()
	return n.Close(closeCtx)
}
