package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Backoff between failed attempts to open a stream to a peer.
const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = time.Second
)

// peer sends frames to one other node, on one stream at a time.
type peer struct {
	t    *Transport
	addr string
	// expiry drops the messages of a held peer (see Transport.held).
	expiry *time.Timer

	ctx    context.Context // ends with close
	cancel context.CancelFunc
	wake   chan struct{} // a message was queued
	// draining is closed when Close wants the peer to send what it has
	// and end its stream; done is closed when run returns.
	draining  chan struct{}
	drainOnce sync.Once
	done      chan struct{}
	// dropped counts messages answered with dead letters instead of sent.
	dropped atomic.Int64

	limit int // bytes the queue holds at most

	mu     sync.Mutex // guards queue, queued
	queue  []queued
	queued int // bytes
}

// queued is a message waiting for its frame.
type queued struct {
	m    *Message
	size int
}

func newPeer(t *Transport, addr string, limit int) *peer {
	p := &peer{t: t, addr: addr, wake: make(chan struct{}, 1), limit: limit,
		draining: make(chan struct{}), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	return p
}

// dial makes the peer's client connection; it connects on first use.
func (p *peer) dial() (*grpc.ClientConn, error) {
	t, addr := p.t, p.addr
	creds := insecure.NewCredentials()
	if t.clientTLS != nil {
		creds = credentials.NewTLS(t.dialTLS(addr))
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(t.opts.maxWire())),
		// A peer restarted at once must be reached again at once, not
		// after gRPC's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("transport: client for %s: %w", addr, err)
	}
	return conn, nil
}

// enqueue queues m for the next frame.
func (p *peer) enqueue(m *Message) error {
	n := size(m)
	if n > p.t.opts.maxMessage() {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, p.t.opts.maxMessage())
	}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		// Closed by SetMembers (or Close) after the sender found it.
		p.mu.Unlock()
		return fmt.Errorf("%w: %q left", ErrNotMember, p.addr)
	}
	if queued := p.queued; queued+n > p.limit {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d bytes queued for %s", ErrQueueFull, queued, p.addr)
	}
	p.queue = append(p.queue, queued{m, n})
	p.queued += n
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// close stops the peer's goroutine; what is queued stays for failQueued
// or drop.
func (p *peer) close() { p.cancel() }

// drop empties the queue and returns what it held, in order.
func (p *peer) drop() []*Message {
	p.mu.Lock()
	q := p.queue
	p.queue, p.queued = nil, 0
	p.mu.Unlock()
	out := make([]*Message, len(q))
	for i, m := range q {
		out[i] = m.m
	}
	return out
}

// flush has the peer send what it has queued and end its stream once the
// other side has delivered all of it, and waits for that until ctx ends.
// It returns an error when messages may have been dropped.
func (p *peer) flush(ctx context.Context) error {
	p.drainOnce.Do(func() { close(p.draining) })
	before := p.dropped.Load()
	select {
	case <-p.done:
		if n := p.dropped.Load() - before; n > 0 {
			return fmt.Errorf("transport: %s: %d messages dropped or possibly lost while closing", p.addr, n)
		}
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		left := len(p.queue)
		p.mu.Unlock()
		return fmt.Errorf("transport: %s: %d messages queued, and maybe some in flight, dropped: %w", p.addr, left, ctx.Err())
	}
}

// sleepCtx waits d; false if ctx or the peer ends first.
func (p *peer) sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-p.ctx.Done():
		return false
	}
}

// run opens a stream to the peer and writes frames on it until the peer is
// closed, or drained, opening a new stream after a failure.
func (p *peer) run() {
	defer close(p.done)
	// Whatever is left when the peer ends (a frame Send gave back as it
	// was closed, say) is answered, not stranded.
	defer p.failQueued()
	conn, err := p.dial()
	if err != nil {
		p.t.opts.Logger.Warn("cannot make a client for peer", "addr", p.addr, "err", err)
		p.failQueued()
		return
	}
	defer conn.Close()
	backoff := minBackoff
	for p.ctx.Err() == nil {
		if !p.waitForWork() {
			return
		}
		stream, err := NewTransportClient(conn).Stream(p.ctx)
		if err != nil {
			// Nothing queued can reach the peer now: tell the senders
			// at once rather than let them wait for their deadlines.
			p.t.opts.Logger.Debug("cannot reach peer", "addr", p.addr, "err", err)
			p.failQueued()
			if !p.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		sent, err := p.write(stream)
		// The other side answers once it has delivered every frame.
		_, cerr := stream.CloseAndRecv()
		if errors.Is(err, errDrained) {
			if cerr != nil {
				p.dropped.Add(1) // frames may have been lost
			}
			return
		}
		if status.Code(cerr) == codes.PermissionDenied {
			// What was sent on it is lost; what is queued would be too.
			p.t.warnLimited("refused-by:"+p.addr, "a peer refused this node's stream", "addr", p.addr, "err", cerr)
			p.failQueued()
			sent = false
		} else {
			p.t.opts.Logger.Debug("stream to peer ended", "addr", p.addr, "err", err)
		}
		if sent {
			backoff = minBackoff
			continue
		}
		// A stream that ends before carrying anything is a failure too:
		// do not reopen it in a tight loop.
		if !p.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// errDrained ends write when the queue is empty and Close asked for it.
var errDrained = errors.New("transport: drained")

// waitForWork waits until a message is queued; false once the peer is
// closed, or drained with nothing queued.
func (p *peer) waitForWork() bool {
	for {
		if !p.empty() {
			return true
		}
		select {
		case <-p.wake:
		case <-p.draining:
			return !p.empty()
		case <-p.ctx.Done():
			return false
		}
	}
}

// write sends frames while the stream holds, and reports whether it sent
// any. It returns as soon as the stream ends, even while idle, so that the
// next messages wait for a new stream instead of going into a dead one;
// and errDrained once the queue is empty and the peer is draining. A frame
// refused because the stream ended goes back to the head of the queue; one
// written just before the connection died is lost (at most once: its
// senders' deadlines end the wait). A frame gRPC refuses itself holds a
// message that cannot be encoded (a string that is not UTF-8, say): that
// message is answered with a dead letter and the others go on, so that
// one bad message cannot block the pair.
func (p *peer) write(stream grpc.ClientStreamingClient[Frame, Done]) (sent bool, err error) {
	busy := false // a frame was sent since the queue was last found empty
	for {
		if busy {
			// Let the senders that are running queue their messages
			// before the next frame is taken: under load a frame then
			// carries dozens of messages instead of one, each frame
			// costing as much as a message to encode, write and read. A
			// message that arrives at an idle peer goes out at once.
			runtime.Gosched()
		}
		batch := p.take()
		if batch != nil && p.t.opts.Cut != nil && p.t.opts.Cut(p.addr) {
			p.t.cut.Add(int64(len(batch)))
			continue
		}
		if batch == nil {
			busy = false
			select {
			case <-p.wake:
				continue
			case <-p.draining:
				if p.empty() {
					return sent, errDrained
				}
				continue
			case <-stream.Context().Done():
				return sent, context.Cause(stream.Context())
			case <-p.ctx.Done():
				return sent, nil
			}
		}
		err := stream.Send(&Frame{Messages: batch})
		if err == nil {
			sent, busy = true, true
			p.t.frames.Add(1)
			p.t.messages.Add(int64(len(batch)))
			continue
		}
		if errors.Is(err, io.EOF) {
			// The stream ended (gRPC tells why on CloseAndRecv): the
			// frame was not written.
			p.requeue(batch)
			return sent, err
		}
		// gRPC refused the frame itself, and ended the stream for it.
		// Answer the messages that cannot be encoded, and send the others
		// on a new stream.
		var good, bad []*Message
		for _, m := range batch {
			if _, merr := proto.Marshal(m); merr != nil {
				bad = append(bad, m)
			} else {
				good = append(good, m)
			}
		}
		if len(bad) == 0 {
			bad, good = good, nil // refused whole: none can go
		}
		p.t.opts.Logger.Warn("dropped messages that cannot be sent", "addr", p.addr, "dropped", len(bad), "kept", len(good), "err", err)
		p.fail(bad)
		p.requeue(good)
		// Progress all the same: the next stream opens without backoff.
		return true, err
	}
}

// empty reports whether nothing is queued.
func (p *peer) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) == 0
}

// requeue puts messages taken from the queue back at its head.
func (p *peer) requeue(batch []*Message) {
	back := make([]queued, 0, len(batch))
	bytes := 0
	for _, m := range batch {
		n := size(m)
		back = append(back, queued{m, n})
		bytes += n
	}
	p.mu.Lock()
	p.queue = append(back, p.queue...)
	p.queued += bytes
	p.mu.Unlock()
}

// take removes the next frame's messages from the queue: as many as fit in
// MaxFrame bytes and maxBatch messages, and at least one.
func (p *peer) take() []*Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	var batch []*Message
	bytes, n := 0, 0
	for n < len(p.queue) && n < maxBatch {
		q := p.queue[n]
		if n > 0 && bytes+q.size > p.t.opts.MaxFrame {
			break
		}
		batch = append(batch, q.m)
		bytes += q.size
		n++
	}
	clear(p.queue[:n])
	p.queue = p.queue[n:]
	p.queued -= bytes
	return batch
}

// failQueued drops what is queued, answering every message that has a
// sender with a dead letter, as protoactor does for a process that does not
// exist: a caller then routes again instead of waiting.
func (p *peer) failQueued() { p.fail(p.drop()) }

// fail answers every message of batch that has a sender with a dead
// letter.
func (p *peer) fail(batch []*Message) {
	p.dropped.Add(int64(len(batch)))
	for _, m := range batch {
		if m.GetSenderId() == "" {
			continue
		}
		sender := &pa.PID{Address: m.GetSenderAddress(), Id: m.GetSenderId(), RequestId: m.GetSenderRequest()}
		p.t.system.Root.Send(sender, &pa.DeadLetterResponse{Target: &pa.PID{Address: p.addr, Id: m.GetTarget()}})
	}
}

// sleep waits d; false if the peer is closed meanwhile.
func (p *peer) sleep(d time.Duration) bool { return p.sleepCtx(context.Background(), d) }
