package actor

import (
	"context"

	pa "github.com/asynkron/protoactor-go/actor"
)

// Waiter receives the one reply to a request sent in its name. Unlike a
// protoactor future it waits on a context, so a call ends exactly at its
// deadline or cancellation, and it starts no timer of its own.
type Waiter struct {
	reg *pa.ProcessRegistryValue
	pid *pa.PID
	ch  chan any
}

// NewWaiter registers a fresh Waiter in system. Release it when done.
//
// Waiters are not pooled: a PID caches the Process it resolved to, so a
// late reply to a released Waiter would reach whatever request reused it.
func NewWaiter(system *pa.ActorSystem) *Waiter {
	w := &Waiter{reg: system.ProcessRegistry, ch: make(chan any, 1)}
	w.pid, _ = w.reg.Add(w, "mesh"+w.reg.NextId())
	return w
}

// PID is the sender to put on the request.
func (w *Waiter) PID() *pa.PID { return w.pid }

// Wait returns the reply, or ctx's error when it ends first.
func (w *Waiter) Wait(ctx context.Context) (any, error) {
	select {
	case m := <-w.ch:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// C returns the channel the reply arrives on, for a caller that waits on
// more than a context.
func (w *Waiter) C() <-chan any { return w.ch }

// Release unregisters w. A reply arriving later goes to dead letters.
func (w *Waiter) Release() {
	w.reg.Remove(w.pid)
}

// SendUserMessage implements protoactor's Process: it keeps the first reply.
func (w *Waiter) SendUserMessage(_ *pa.PID, message any) {
	_, msg, _ := pa.UnwrapEnvelope(message)
	select {
	case w.ch <- msg:
	default:
	}
}

// SendSystemMessage implements protoactor's Process; a Waiter ignores them.
func (w *Waiter) SendSystemMessage(*pa.PID, any) {}

// Stop implements protoactor's Process; a Waiter is stopped by Release.
func (w *Waiter) Stop(*pa.PID) {}
