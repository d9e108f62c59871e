package activation

import (
	"sync"
	"testing"
	"time"
)

// TestDispatcherNeverQueues: a mailbox scheduled while every worker is
// busy runs at once on a goroutine of its own, also past maxWorkers.
func TestDispatcherNeverQueues(t *testing.T) {
	d := newDispatcher()
	defer d.close()
	const n = maxWorkers + 20
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		d.Schedule(func() {
			started.Done()
			<-release
		})
	}
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("mailboxes waited for busy workers")
	}
	if got := d.workers.Load(); got != maxWorkers {
		t.Errorf("%d workers kept, want %d", got, maxWorkers)
	}
	close(release)
}

// TestDispatcherReusesWorkers: mailboxes scheduled one after another run
// on the same kept goroutine, and close ends it.
func TestDispatcherReusesWorkers(t *testing.T) {
	d := newDispatcher()
	ran := make(chan struct{})
	for range 100 {
		d.Schedule(func() { ran <- struct{}{} })
		<-ran
		// Time for the worker to wait for work again.
		time.Sleep(time.Millisecond)
	}
	// One worker ran them all, or a few when a worker was slow to wait
	// again; a dispatcher that keeps none, or never reuses one, has 0 or
	// 100.
	if got := d.workers.Load(); got < 1 || got > 10 {
		t.Errorf("%d workers ran 100 mailboxes one after another", got)
	}
	d.close()
	waitFor(t, func() bool { return d.workers.Load() == 0 })
	// After close, a mailbox still runs.
	d.Schedule(func() { ran <- struct{}{} })
	<-ran
}

// TestDispatcherCloseEndsBusyWorkers: a worker busy when the dispatcher
// closes ends once its mailbox is done, and so does one that was idle.
func TestDispatcherCloseEndsBusyWorkers(t *testing.T) {
	d := newDispatcher()
	release := make(chan struct{})
	busy, idle := make(chan struct{}), make(chan struct{})
	d.Schedule(func() { close(busy); <-release })
	d.Schedule(func() { close(idle) })
	<-busy
	<-idle
	if got := d.workers.Load(); got != 2 {
		t.Fatalf("%d workers, want 2", got)
	}
	d.close()
	close(release)
	waitFor(t, func() bool { return d.workers.Load() == 0 })
}
