package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
)

// Errors of Send.
var (
	// ErrQueueFull reports a peer whose send queue holds MaxQueue bytes
	// already: it does not take messages as fast as they come.
	ErrQueueFull = errors.New("transport: send queue full")
	// ErrNotMember reports an address that is not a member's.
	ErrNotMember = errors.New("transport: not a member's address")
	// ErrTooLarge reports a message over the transport's message limit.
	ErrTooLarge = errors.New("transport: message too large")
	// ErrClosed reports use of a closed Transport.
	ErrClosed = errors.New("transport: closed")
	// ErrUnknownKind reports a message of a type the transport does not
	// carry.
	ErrUnknownKind = errors.New("transport: message of a kind it does not carry")
)

// Defaults of Options.
const (
	DefaultMaxPayload = 4 << 20
	DefaultMaxFrame   = 1 << 20
	DefaultMaxQueue   = 64 << 20
	// maxBatch bounds the messages of one frame.
	maxBatch = 1024
	// envelopeRoom is what a message needs beyond its payload: IDs,
	// capability, trace context, PIDs. Bounded by the limits the node
	// validates (IDs of 256 bytes, names of 128) with a wide margin.
	envelopeRoom = 64 << 10
)

// Options tune a Transport. The zero value is valid.
type Options struct {
	// MaxPayload is the largest user payload a message carries, in bytes;
	// a message may be that plus envelopeRoom. If zero, 4 MiB.
	MaxPayload int
	// MaxFrame is the size, in bytes, past which a frame takes no more
	// messages; one larger message travels alone. If zero, 1 MiB.
	MaxFrame int
	// MaxQueue bounds the bytes queued for one peer. If zero, 64 MiB.
	MaxQueue int
	// TLS, if set, secures both directions with these credentials (mutual
	// TLS when it requires client certificates). If nil, plaintext.
	TLS *tls.Config
	// Logger receives the transport's log lines. If nil, they are dropped.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// maxMessage is the largest message the transport takes, and maxWire the
// largest frame on the wire: one message alone, or a full batch.
func (o Options) maxMessage() int { return o.MaxPayload + envelopeRoom }
func (o Options) maxWire() int    { return max(o.maxMessage(), o.MaxFrame+o.maxMessage()) }

// Transport is one node's end of the mesh's streams.
type Transport struct {
	opts   Options
	lis    net.Listener
	srv    *grpc.Server
	system *pa.ActorSystem
	// addr is this node's address as others dial it: the address of its
	// PIDs.
	addr string

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// members are the addresses the transport may dial.
	members atomic.Pointer[map[string]bool]

	// active is a copy of peers for sends to read without a lock;
	// replaced, under mu, whenever peers changes.
	active atomic.Pointer[map[string]*peer]

	mu    sync.Mutex // guards peers, held, closed
	peers map[string]*peer
	// held are the messages protoactor sent to addresses that are not
	// members yet, by address: a reply to a node that has just joined,
	// before gossip told this node of it. Never dialed until SetMembers
	// names them; dropped after holdTimeout.
	held   map[string]*peer
	closed bool

	// frames and messages count what the peers have written.
	frames, messages atomic.Int64
}

// Sent returns how many frames the transport has written to its peers and
// how many messages they carried.
func (t *Transport) Sent() (frames, messages int64) { return t.frames.Load(), t.messages.Load() }

// maxStreams bounds the streams one connection may open at once.
const maxStreams = 8

// Bounds of held messages: per address, addresses, and how long.
const (
	heldLimit   = 1 << 20
	maxHeld     = 64
	holdTimeout = 2 * time.Second
)

// Listen binds the transport to addr (host:port; port 0 picks one). It
// serves nothing until Start.
func Listen(addr string, opts Options) (*Transport, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	opts = opts.withDefaults()
	t := &Transport{opts: opts, lis: lis, peers: map[string]*peer{}, held: map[string]*peer{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.members.Store(&map[string]bool{})
	t.active.Store(&map[string]*peer{})
	return t, nil
}

// BoundAddr returns the address the transport listens on.
func (t *Transport) BoundAddr() string { return t.lis.Addr().String() }

// Start serves the streams of other nodes and resolves non-local PIDs of
// system through the transport. addr is the address other nodes dial to
// reach this one; system's PIDs must carry it.
func (t *Transport) Start(system *pa.ActorSystem, addr string) {
	t.system, t.addr = system, addr
	creds := insecure.NewCredentials()
	if t.opts.TLS != nil {
		creds = credentials.NewTLS(t.opts.TLS)
	}
	t.srv = grpc.NewServer(grpc.Creds(creds), grpc.MaxRecvMsgSize(t.opts.maxWire()),
		// A connection that does not finish its handshake is closed; it
		// would also hold up Close (gRPC's default is two minutes).
		grpc.ConnectionTimeout(2*time.Second),
		// A peer needs one stream; a few more cover reconnections.
		grpc.MaxConcurrentStreams(maxStreams),
		// Connections of peers that vanished without closing are noticed
		// and closed.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}))
	RegisterTransportServer(t.srv, server{t: t})
	system.ProcessRegistry.RegisterAddressResolver(t.resolve)
	t.goFunc(func() {
		if err := t.srv.Serve(t.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.opts.Logger.Warn("transport stopped serving", "err", err)
		}
	})
}

// Addr returns the address other nodes reach this one at.
func (t *Transport) Addr() string { return t.addr }

// SetMembers replaces the addresses the transport may dial, and stops
// sending to every other one: what was queued for an address that is no
// longer a member's is answered with dead letters.
func (t *Transport) SetMembers(addrs []string) {
	next := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		next[a] = true
	}
	t.mu.Lock()
	t.members.Store(&next)
	var gone []*peer
	for a, p := range t.peers {
		if !next[a] {
			gone = append(gone, p)
			delete(t.peers, a)
		}
	}
	for a, h := range t.held {
		if !next[a] || t.closed {
			continue
		}
		delete(t.held, a)
		h.expiry.Stop()
		h.close()
		// The peer is published below, after its held messages: no
		// send that finds it can overtake them.
		p := t.peerLocked(a)
		for _, m := range h.drop() {
			if err := p.enqueue(m); err != nil {
				p.fail([]*Message{m})
			}
		}
	}
	t.publish()
	t.mu.Unlock()
	for _, p := range gone {
		p.close()
		p.failQueued()
	}
}

// Send queues msg for the process target of another node, in the name of
// sender (nil for none). It fails at once with ErrNotMember, ErrTooLarge,
// ErrQueueFull, ErrUnknownKind or ErrClosed; otherwise the message is on its
// way, at most once.
func (t *Transport) Send(target *pa.PID, msg any, sender *pa.PID) error {
	m, err := messageOf(target, msg, sender)
	if err != nil {
		return err
	}
	return t.send(target.Address, m)
}

// send queues m for the member at addr.
func (t *Transport) send(addr string, m *Message) error {
	p, err := t.peer(addr)
	if err != nil {
		return err
	}
	return p.enqueue(m)
}

// peer returns the sender to addr, starting it on first use.
func (t *Transport) peer(addr string) (*peer, error) {
	if !(*t.members.Load())[addr] {
		return nil, fmt.Errorf("%w: %q", ErrNotMember, addr)
	}
	if p := (*t.active.Load())[addr]; p != nil {
		return p, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	// Again under mu: SetMembers may have dropped addr since.
	if !(*t.members.Load())[addr] {
		return nil, fmt.Errorf("%w: %q", ErrNotMember, addr)
	}
	p := t.peerLocked(addr)
	t.publish()
	return p, nil
}

// peerLocked returns the sender to addr, a member, starting it if there is
// none; the caller publishes it. mu must be held.
func (t *Transport) peerLocked(addr string) *peer {
	if p := t.peers[addr]; p != nil {
		return p
	}
	p := newPeer(t, addr, t.opts.MaxQueue)
	t.peers[addr] = p
	t.goFunc(p.run)
	return p
}

// publish copies peers into active. mu must be held.
func (t *Transport) publish() {
	next := make(map[string]*peer, len(t.peers))
	for a, p := range t.peers {
		next[a] = p
	}
	t.active.Store(&next)
}

// hold queues m for addr, which is not a member as the transport saw
// members a moment ago, until SetMembers names it or holdTimeout passes.
func (t *Transport) hold(addr string, m *Message) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	var p *peer
	switch {
	case (*t.members.Load())[addr]:
		p = t.peerLocked(addr) // a member since the caller looked
		t.publish()
	case t.held[addr] != nil:
		p = t.held[addr]
	case len(t.held) >= maxHeld:
		t.mu.Unlock()
		return fmt.Errorf("%w: %q, and %d other addresses are held already", ErrNotMember, addr, len(t.held))
	default:
		p = newPeer(t, addr, heldLimit)
		t.held[addr] = p
		p.expiry = time.AfterFunc(holdTimeout, func() { t.expire(addr, p) })
	}
	// Under mu, so that SetMembers or expire cannot close p in between.
	defer t.mu.Unlock()
	return p.enqueue(m)
}

// expire drops what is held for addr, answering it with dead letters.
func (t *Transport) expire(addr string, p *peer) {
	t.mu.Lock()
	mine := !t.closed && t.held[addr] == p
	if mine {
		delete(t.held, addr)
	}
	t.mu.Unlock()
	if mine {
		p.close() // first, so that nothing is queued after failQueued
		p.failQueued()
	}
}

// resolve is protoactor's resolver of non-local PIDs: a message protoactor
// sends to another node (a reply, a forwarded cast) goes through the
// transport.
func (t *Transport) resolve(pid *pa.PID) (pa.Process, bool) {
	return process{t}, true
}

// flushTimeout bounds how long Close waits for queued messages to leave.
const flushTimeout = time.Second

// Close stops sending and serving. Every peer is given, bounded by ctx and
// flushTimeout, to send what it has queued and hear from the other side
// that all of it was delivered (replies to calls that peers wait for, say);
// then the streams of peers are cut: they never end by themselves, so
// there is nothing to wait for on that side. It returns an error, after
// closing all the same, when messages may have been dropped.
func (t *Transport) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	peers := t.peers
	t.peers = nil
	t.active.Store(&map[string]*peer{})
	for _, p := range t.held {
		p.expiry.Stop()
		p.close()
	}
	t.held = nil
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	errs := make(chan error, len(peers))
	for _, p := range peers {
		go func() { errs <- p.flush(ctx) }()
	}
	var err error
	for range peers {
		err = errors.Join(err, <-errs)
	}
	t.cancel()
	if t.srv != nil {
		t.srv.Stop()
	} else {
		_ = t.lis.Close()
	}
	t.wg.Wait()
	return err
}
func (t *Transport) goFunc(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// process is the protoactor Process of every non-local PID.
type process struct{ t *Transport }

func (p process) SendUserMessage(pid *pa.PID, message any) {
	_, msg, sender := pa.UnwrapEnvelope(message)
	m, err := messageOf(pid, msg, sender)
	if err == nil {
		err = p.t.send(pid.Address, m)
	}
	if errors.Is(err, ErrNotMember) {
		err = p.t.hold(pid.Address, m)
	}
	if err != nil {
		// protoactor's Send has no error to return: the sender's own
		// deadline ends what waits for an answer.
		p.t.opts.Logger.Debug("message not sent", "to", pid.String(), "type", fmt.Sprintf("%T", msg), "err", err)
	}
}

// SendSystemMessage drops system messages (watch, stop): mesh does not
// watch or stop processes of other nodes.
func (process) SendSystemMessage(*pa.PID, any) {}

func (process) Stop(*pa.PID) {}

// messageOf builds the wire message of msg to target from sender.
func messageOf(target *pa.PID, msg any, sender *pa.PID) (*Message, error) {
	m := &Message{Target: target.Id, TargetRequest: target.RequestId}
	if sender != nil {
		m.SenderAddress, m.SenderId, m.SenderRequest = sender.Address, sender.Id, sender.RequestId
	}
	switch b := msg.(type) {
	case *wire.Envelope:
		m.Body = &Message_Envelope{Envelope: b}
	case *wire.Reply:
		m.Body = &Message_Reply{Reply: b}
	case *wire.Ping:
		m.Body = &Message_Ping{Ping: b}
	case *wire.Pong:
		m.Body = &Message_Pong{Pong: b}
	case *wire.Handoff:
		m.Body = &Message_Handoff{Handoff: b}
	case *wire.HandoffAck:
		m.Body = &Message_HandoffAck{HandoffAck: b}
	case *pa.DeadLetterResponse:
		m.Body = &Message_DeadLetter{DeadLetter: b.GetTarget().GetId()}
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownKind, msg)
	}
	return m, nil
}

// server receives the streams of other nodes.
type server struct {
	UnimplementedTransportServer
	t *Transport
}

func (s server) Stream(stream grpc.ClientStreamingServer[Frame, Done]) error {
	for {
		f, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&Done{})
		}
		if err != nil {
			return err
		}
		for _, m := range f.GetMessages() {
			s.t.deliver(m)
		}
	}
}

// deliver hands a received message to its process on this node. A message
// without a target or a body of a known kind is dropped.
func (t *Transport) deliver(m *Message) {
	var msg any
	switch b := m.GetBody().(type) {
	case *Message_Envelope:
		msg = b.Envelope
	case *Message_Reply:
		msg = b.Reply
	case *Message_Ping:
		msg = b.Ping
	case *Message_Pong:
		msg = b.Pong
	case *Message_Handoff:
		msg = b.Handoff
	case *Message_HandoffAck:
		msg = b.HandoffAck
	case *Message_DeadLetter:
		msg = &pa.DeadLetterResponse{}
	}
	if pm, ok := msg.(proto.Message); ok && pm.ProtoReflect().IsValid() {
		// Fields this version does not know would travel on, unsized,
		// with a message the router forwards.
		pm.ProtoReflect().SetUnknown(nil)
	}
	if msg == nil || m.GetTarget() == "" {
		t.opts.Logger.Debug("dropped a message without target or body", "target", m.GetTarget())
		return
	}
	target := &pa.PID{Address: t.addr, Id: m.GetTarget(), RequestId: m.GetTargetRequest()}
	if m.GetSenderId() == "" {
		t.system.Root.Send(target, msg)
		return
	}
	sender := &pa.PID{Address: m.GetSenderAddress(), Id: m.GetSenderId(), RequestId: m.GetSenderRequest()}
	t.system.Root.RequestWithCustomSender(target, msg, sender)
}
