package activation

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxWorkers bounds the goroutines a dispatcher keeps. Past them, a
// mailbox runs on a goroutine of its own, as with protoactor's default
// dispatcher.
const maxWorkers = 128

// throughput is how many messages a mailbox handles before it yields, as
// protoactor's default.
const throughput = 300

// dismissFor bounds how long a closed dispatcher keeps offering its idle
// workers their end; a worker busy past it ends when its mailbox is done.
const dismissFor = 10 * time.Second

// dispatcher runs activations' mailboxes on goroutines it keeps, instead of
// protoactor's default of a new goroutine per batch of messages: a mailbox
// holds one message at a time in the common case, so the default pays a
// goroutine start and, since handling a message runs deep, the growth of
// its stack, for every message. A mailbox never waits for a worker: it is
// handed to one that is idle, or else to a new goroutine.
//
// An idle worker waits on work alone, not in a select with a quit channel:
// every worker locks every channel of its select, so a quit channel shared
// by all of them was the most contended lock of warm local calls. Closing
// hands idle workers a nil instead.
type dispatcher struct {
	work    chan func() // unbuffered: a send succeeds only into an idle worker; nil ends it
	closed  atomic.Bool
	workers atomic.Int32
	once    sync.Once
}

func newDispatcher() *dispatcher {
	return &dispatcher{work: make(chan func())}
}

// Schedule runs fn (a mailbox's run) on an idle worker, or a new one; once
// the dispatcher is closed, on a goroutine of its own.
func (d *dispatcher) Schedule(fn func()) {
	if !d.closed.Load() {
		select {
		case d.work <- fn:
			return
		default:
		}
		if d.workers.Add(1) <= maxWorkers {
			go d.worker(fn)
			return
		}
		d.workers.Add(-1)
	}
	go fn()
}

// Throughput is the number of messages a mailbox handles before yielding.
func (d *dispatcher) Throughput() int { return throughput }

func (d *dispatcher) worker(fn func()) {
	defer d.workers.Add(-1)
	for fn != nil {
		fn()
		if d.closed.Load() {
			return
		}
		fn = <-d.work
	}
}

// close ends the idle workers; a busy one ends once its mailbox is done.
// Mailboxes scheduled afterwards run on goroutines of their own.
func (d *dispatcher) close() {
	d.once.Do(func() {
		d.closed.Store(true)
		go d.dismiss()
	})
}

// dismiss hands each idle worker a nil until none is left, or for
// dismissFor. It polls because a worker may be between its check of
// closed and its wait for work, where no send reaches it yet.
func (d *dispatcher) dismiss() {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	giveUp := time.Now().Add(dismissFor)
	for d.workers.Load() > 0 && time.Now().Before(giveUp) {
		select {
		case d.work <- nil:
		case <-tick.C:
		}
	}
}
