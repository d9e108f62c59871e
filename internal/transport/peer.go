package transport

import (
	"context"
	"fmt"
	"sync"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
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

	mu     sync.Mutex // guards queue, queued, limit
	queue  []queued
	queued int // bytes
	limit  int // bytes
}

// queued is a message waiting for its frame.
type queued struct {
	m    *Message
	size int
}

func newPeer(t *Transport, addr string, limit int) *peer {
	p := &peer{t: t, addr: addr, wake: make(chan struct{}, 1), limit: limit}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	return p
}

// setLimit changes how many bytes the peer queues.
func (p *peer) setLimit(n int) {
	p.mu.Lock()
	p.limit = n
	p.mu.Unlock()
}

// dial makes the peer's client connection; it connects on first use.
func (p *peer) dial() (*grpc.ClientConn, error) {
	t, addr := p.t, p.addr
	creds := insecure.NewCredentials()
	if t.opts.TLS != nil {
		creds = credentials.NewTLS(t.opts.TLS)
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
	if p.queued+n > p.limit {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d bytes queued for %s", ErrQueueFull, p.queued, p.addr)
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

// close stops the peer's goroutine; what is queued is dropped.
func (p *peer) close() { p.cancel() }

// flush waits until the queue is empty or ctx ends, and returns how many
// messages are left.
func (p *peer) flush(ctx context.Context) int {
	for {
		p.mu.Lock()
		left := len(p.queue)
		p.mu.Unlock()
		if left == 0 || !p.sleepCtx(ctx, 2*time.Millisecond) {
			return left
		}
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
// closed, opening a new stream after a failure.
func (p *peer) run() {
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
		backoff = minBackoff
		err = p.write(stream)
		_, _ = stream.CloseAndRecv()
		if err != nil {
			p.t.opts.Logger.Debug("stream to peer ended", "addr", p.addr, "err", err)
		}
	}
}

// waitForWork waits until a message is queued; false once the peer is
// closed.
func (p *peer) waitForWork() bool {
	p.mu.Lock()
	pending := len(p.queue) > 0
	p.mu.Unlock()
	if pending {
		return true
	}
	select {
	case <-p.wake:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// write sends frames while the stream holds. It returns as soon as the
// stream ends, even while idle, so that the next messages wait for a new
// stream instead of going into a dead one. A frame that Send refuses was
// not written and goes back to the head of the queue; a frame written just
// before the connection died is lost (at most once: its senders' deadlines
// end the wait).
func (p *peer) write(stream grpc.ClientStreamingClient[Frame, Done]) error {
	for {
		batch, bytes := p.take()
		if batch == nil {
			select {
			case <-p.wake:
				continue
			case <-stream.Context().Done():
				return context.Cause(stream.Context())
			case <-p.ctx.Done():
				return nil
			}
		}
		if err := stream.Send(&Frame{Messages: batch}); err != nil {
			if status.Code(err) == codes.ResourceExhausted {
				// Over gRPC's limit: sending it again would fail again.
				p.t.opts.Logger.Warn("dropped a frame over the size limit", "addr", p.addr, "messages", len(batch), "err", err)
				p.fail(batch)
				return err
			}
			p.requeue(batch, bytes)
			return err
		}
	}
}

// requeue puts a frame's messages, of bytes in all, back at the head of
// the queue.
func (p *peer) requeue(batch []*Message, bytes int) {
	back := make([]queued, 0, len(batch))
	for _, m := range batch {
		back = append(back, queued{m, size(m)})
	}
	p.mu.Lock()
	p.queue = append(back, p.queue...)
	p.queued += bytes
	p.mu.Unlock()
}

// take removes the next frame's messages from the queue: as many as fit in
// MaxFrame bytes and maxBatch messages, and at least one; and their size.
func (p *peer) take() ([]*Message, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil, 0
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
	return batch, bytes
}

// failQueued drops what is queued, answering every message that has a
// sender with a dead letter, as protoactor does for a process that does not
// exist: a caller then routes again instead of waiting.
func (p *peer) failQueued() {
	p.mu.Lock()
	q := p.queue
	p.queue, p.queued = nil, 0
	p.mu.Unlock()
	batch := make([]*Message, len(q))
	for i, m := range q {
		batch[i] = m.m
	}
	p.fail(batch)
}

// fail answers every message of batch that has a sender with a dead
// letter.
func (p *peer) fail(batch []*Message) {
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
