package main

import "sync/atomic"

// The fair ceiling runs its actors the way mesh runs activations: on
// goroutines a dispatcher keeps, instead of protoactor's default of a new
// goroutine per batch of a mailbox. mesh's dispatcher is internal to it, so
// the ceiling has this one of its own, built to the same rules: a mailbox
// is handed to an idle worker through an unbuffered channel, or else to a
// new worker while fewer than keptWorkers exist, or else to a goroutine of
// its own; a mailbox handles up to mailboxThroughput messages before it
// yields.
const (
	keptWorkers       = 128
	mailboxThroughput = 300
)

// keptDispatcher implements protoactor's actor.Dispatcher.
type keptDispatcher struct {
	work    chan func()
	workers atomic.Int32
}

func newKeptDispatcher() *keptDispatcher { return &keptDispatcher{work: make(chan func())} }

// Schedule runs fn on an idle worker, a new worker, or a goroutine of its own.
func (d *keptDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	if d.workers.Add(1) > keptWorkers {
		d.workers.Add(-1)
		go fn()
		return
	}
	go d.worker(fn)
}

// Throughput is the messages a mailbox handles before it yields.
func (d *keptDispatcher) Throughput() int { return mailboxThroughput }

// worker runs mailboxes for as long as its node process lives: a node
// process runs one contender once, so no worker needs to end earlier.
func (d *keptDispatcher) worker(fn func()) {
	for {
		fn()
		fn = <-d.work
	}
}
