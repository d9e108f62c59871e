package crashtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Load increments counters from one node until Stop, and checks every
// reply against the count the ID last acknowledged: a reply at or below
// it means acknowledged increments were lost. A failed call's increment
// may or may not have been applied, so a later count may jump past the
// next one; it may never fall back.
type Load struct {
	from *mesh.Node
	ids  int
	// last is, per ID, the count its last successful reply gave; lost the
	// acknowledged increments found missing.
	last   []atomic.Int64
	lost   atomic.Int64
	falls  atomic.Int64
	calls  atomic.Int64
	failed atomic.Int64
	first  atomic.Value
	stop   chan struct{}
	wg     sync.WaitGroup
}

// ID is the ID of counter i.
func ID(i int) string { return fmt.Sprint("c-", i) }

// StartLoad starts workers that increment the counters 0..ids-1 from
// node from, one call per ID in flight at a time.
func StartLoad(from *mesh.Node, ids, workers int) *Load {
	l := &Load{from: from, ids: ids, last: make([]atomic.Int64, ids), stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// Each worker owns the IDs congruent to it, so that the
			// replies of one ID come in the order of its calls.
			for i := w; ; i += workers {
				if i >= ids {
					i = w
				}
				select {
				case <-l.stop:
					return
				default:
				}
				l.call(i, wrapperspb.Int64(1))
			}
		}()
	}
	return l
}

// call sends payload to counter i and checks the count it answers.
func (l *Load) call(i int, payload *wrapperspb.Int64Value) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var req mesh.Request
	if payload == nil {
		req = mesh.Request{Capability: Capability, ID: ID(i), Payload: wrapperspb.String("get")}
	} else {
		req = mesh.Request{Capability: Capability, ID: ID(i), Payload: payload}
		l.calls.Add(1)
	}
	reply, err := l.from.Call(ctx, req)
	if err != nil {
		if payload != nil {
			l.failed.Add(1)
			l.first.CompareAndSwap(nil, err.Error())
		}
		return false
	}
	got := reply.(*wrapperspb.Int64Value).GetValue()
	last := l.last[i].Load()
	floor := last
	if payload != nil {
		floor++ // an increment answers at least one more
	}
	if got < floor {
		l.falls.Add(1)
		l.lost.Add(floor - got)
	}
	l.last[i].Store(max(got, 0))
	return true
}

// Result is what a Load saw.
type Result struct {
	// Calls is the increments sent; Failed those that failed (their
	// outcome unknown to the caller).
	Calls, Failed int64
	// Lost is the acknowledged increments found missing, over Falls
	// replies that counted less than was acknowledged before them.
	Lost, Falls int64
	// Acknowledged is the sum of the counts last acknowledged.
	Acknowledged int64
	// FirstError is the first failed call's error, if any.
	FirstError string
}

func (r Result) String() string {
	s := fmt.Sprintf("%d increments, %d failed, %d acknowledged in the end; %d lost (%d counts fell back)",
		r.Calls, r.Failed, r.Acknowledged, r.Lost, r.Falls)
	if r.FirstError != "" {
		s += "; first failure: " + r.FirstError
	}
	return s
}

// Stop ends the load, reads every counter once more (retrying each for
// up to timeout) and returns what was seen. A counter that cannot be
// read within timeout is an error.
func (l *Load) Stop(timeout time.Duration) (Result, error) {
	close(l.stop)
	l.wg.Wait()
	for i := range l.ids {
		deadline := time.Now().Add(timeout)
		for !l.call(i, nil) {
			if time.Now().After(deadline) {
				return l.result(), fmt.Errorf("counter %s could not be read within %v", ID(i), timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return l.result(), nil
}

func (l *Load) result() Result {
	r := Result{Calls: l.calls.Load(), Failed: l.failed.Load(), Lost: l.lost.Load(), Falls: l.falls.Load()}
	for i := range l.last {
		r.Acknowledged += l.last[i].Load()
	}
	if s, ok := l.first.Load().(string); ok {
		r.FirstError = s
	}
	return r
}

// Calls returns the increments sent so far.
func (l *Load) Calls() int64 { return l.calls.Load() }
