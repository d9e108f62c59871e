package activation

import (
	"sync"
	"sync/atomic"
)

// maxWorkers bounds the goroutines a dispatcher keeps. Past them, a
// mailbox runs on a goroutine of its own, as with protoactor's default
// dispatcher.
const maxWorkers = 128

// throughput is how many messages a mailbox handles before it yields, as
// protoactor's default.
const throughput = 300

// dispatcher runs activations' mailboxes on goroutines it keeps, instead of
// protoactor's default of a new goroutine per batch of messages: a mailbox
// holds one message at a time in the common case, so the default pays a
// goroutine start and, since handling a message runs deep, the growth of
// its stack, for every message. A mailbox never waits for a worker: it is
// handed to one that is idle, or else to a new goroutine.
type dispatcher struct {
	work    chan func() // unbuffered: a send succeeds only into an idle worker
	quit    chan struct{}
	workers atomic.Int32
	once    sync.Once
}

func newDispatcher() *dispatcher {
	return &dispatcher{work: make(chan func()), quit: make(chan struct{})}
}

// Schedule runs fn (a mailbox's run) on an idle worker, or a new one.
func (d *dispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	if d.workers.Add(1) > maxWorkers {
		d.workers.Add(-1)
		go fn()
		return
	}
	go d.worker(fn)
}

// Throughput is the number of messages a mailbox handles before yielding.
func (d *dispatcher) Throughput() int { return throughput }

func (d *dispatcher) worker(fn func()) {
	defer d.workers.Add(-1)
	for {
		fn()
		select {
		case fn = <-d.work:
		case <-d.quit:
			return
		}
	}
}

// close ends the idle workers; a busy one ends once its mailbox is done.
// Mailboxes scheduled afterwards run on goroutines of their own.
func (d *dispatcher) close() { d.once.Do(func() { close(d.quit) }) }
