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
	// TLS, if set, secures both directions with mutual TLS: ValidateTLS
	// says what it must hold. Every peer is then identified by the node
	// its certificate names (package certs): a server must be the member
	// SetMembers names at the address dialed, and a client a member whose
	// messages carry its own address. If nil, plaintext: every peer is
	// trusted.
	TLS *tls.Config
	// Name is this node's name, which its certificate must name. Needed
	// with TLS only.
	Name string
	// MemberWait is how long, with TLS, a stream from a peer that is not a
	// member yet (it has just joined, or restarted at another address)
	// waits for SetMembers to name it before it is refused. If zero, 2 s.
	MemberWait time.Duration
	// MaxConnsPerHost and MaxConns bound the connections served at once
	// from one remote host and in all; a connection past them is closed
	// as soon as it is accepted. If zero, DefaultMaxConnsPerHost and
	// DefaultMaxConns.
	MaxConnsPerHost, MaxConns int
	// IdleConn is how long a served connection may carry no stream before
	// it is closed: a peer keeps its stream open, so only a connection
	// that holds a place without using it is. If zero, DefaultIdleConn.
	IdleConn time.Duration
	// Logger receives the transport's log lines. If nil, they are dropped.
	Logger *slog.Logger
	// Cut, if set, is a network fault to inject, for tests: it reports the
	// addresses this node cannot reach now. Messages to them are dropped
	// as a cut network loses them, silently (no dead letter), whether
	// they were queued before or after the cut; sending goes on once Cut
	// lets the address through again. Called from the peers' goroutines
	// before every frame: it must be quick and safe for concurrent use.
	Cut func(addr string) bool
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
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleConn <= 0 {
		o.IdleConn = DefaultIdleConn
	}
	if o.MemberWait <= 0 {
		o.MemberWait = DefaultMemberWait
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
	// resident are the processes Start named, by protoactor ID; read-only
	// once started.
	resident map[string]pa.Process
	// targets are the PIDs received messages went to.
	targets *targets

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// view is the members: the addresses the transport may dial, and the
	// peers it takes streams from.
	view atomic.Pointer[view]
	// serverTLS and clientTLS are opts.TLS as the transport serves and
	// dials with; nil for plaintext.
	serverTLS, clientTLS *tls.Config
	// limit bounds the log lines of refused peers.
	limit *logLimit

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

	// frames and messages count what the peers have written; cut the
	// messages Options.Cut dropped.
	frames, messages, cut atomic.Int64
	// delivered counts the messages taken from peers; refused the
	// handshakes, streams and servers refused.
	delivered, refused atomic.Int64
}

// Member is a node the transport exchanges messages with.
type Member struct {
	// Name is the node's name: with TLS, what its certificate names.
	Name string
	// Addr is the address it is dialed at, and the address of its PIDs.
	Addr string
}

// view is an immutable snapshot of the members.
type view struct {
	byAddr map[string]string // address → name
	byName map[string]string // name → address
	// changed is closed when SetMembers replaces this view.
	changed chan struct{}
}

func (v *view) member(addr string) bool {
	_, ok := v.byAddr[addr]
	return ok
}

// Sent returns how many frames the transport has written to its peers and
// how many messages they carried.
func (t *Transport) Sent() (frames, messages int64) { return t.frames.Load(), t.messages.Load() }

// Cut returns how many messages Options.Cut has dropped.
func (t *Transport) Cut() int64 { return t.cut.Load() }

// Delivered returns how many messages the transport has taken from its
// peers: those of every frame it received and did not refuse.
func (t *Transport) Delivered() int64 { return t.delivered.Load() }

// Refused returns how many peers the transport has refused, with TLS: TLS
// handshakes that failed, streams ended with PermissionDenied and servers
// that were not the member dialed.
func (t *Transport) Refused() int64 { return t.refused.Load() }

// maxStreams bounds the streams one connection may open at once.
const maxStreams = 8

// Bounds of held messages: per address, addresses, and how long.
const (
	heldLimit   = 1 << 20
	maxHeld     = 64
	holdTimeout = 2 * time.Second
)

// Listen binds the transport to addr (host:port; port 0 picks one). It
// serves nothing until Start. It fails with ErrTLSConfig when opts.TLS is
// set and ValidateTLS refuses it.
func Listen(addr string, opts Options) (*Transport, error) {
	opts = opts.withDefaults()
	if opts.TLS != nil {
		if err := ValidateTLS(opts.TLS, opts.Name); err != nil {
			return nil, err
		}
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	t := &Transport{opts: opts, peers: map[string]*peer{}, held: map[string]*peer{}, limit: newLogLimit(), targets: newTargets()}
	t.lis = limitConns(lis, opts.MaxConnsPerHost, opts.MaxConns, func(host string, open int) {
		t.warnLimited("conns "+host, "refused a connection past the transport's bound",
			"host", host, "open_from_host", open, "max_per_host", opts.MaxConnsPerHost, "max", opts.MaxConns)
	})
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if opts.TLS != nil {
		t.serverTLS, t.clientTLS = t.tlsConfigs(opts.TLS)
	}
	t.view.Store(&view{changed: make(chan struct{})})
	t.active.Store(&map[string]*peer{})
	return t, nil
}

// BoundAddr returns the address the transport listens on.
func (t *Transport) BoundAddr() string { return t.lis.Addr().String() }

// Start serves the streams of other nodes and resolves non-local PIDs of
// system through the transport. addr is the address other nodes dial to
// reach this one; system's PIDs must carry it. resident names, by
// protoactor ID, processes that live as long as the transport: a message
// for one goes straight to it, without the registry lookup (and the
// allocation) protoactor makes for every PID it has not resolved before,
// which every PID of a received message is.
func (t *Transport) Start(system *pa.ActorSystem, addr string, resident map[string]pa.Process) {
	t.system, t.addr, t.resident = system, addr, resident
	creds := insecure.NewCredentials()
	if t.serverTLS != nil {
		creds = loggedCreds{credentials.NewTLS(t.serverTLS), t}
	}
	t.srv = grpc.NewServer(grpc.Creds(creds), grpc.MaxRecvMsgSize(t.opts.maxWire()),
		// A connection that does not finish its handshake is closed; it
		// would also hold up Close (gRPC's default is two minutes).
		grpc.ConnectionTimeout(2*time.Second),
		// A peer needs one stream; a few more cover reconnections.
		grpc.MaxConcurrentStreams(maxStreams),
		// Connections of peers that vanished without closing are noticed
		// and closed.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second,
			// A connection that opens no stream holds a place of the
			// bounds above for nothing.
			MaxConnectionIdle: t.opts.IdleConn}))
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

// SetMembers replaces the members: the addresses the transport may dial,
// and, with TLS, the peers it takes messages from. It stops sending to
// every other address: what was queued for an address that is no longer
// a member's is answered with dead letters. Of two members at one
// address, the later is the member there.
func (t *Transport) SetMembers(members []Member) {
	next := &view{
		byAddr:  make(map[string]string, len(members)),
		byName:  make(map[string]string, len(members)),
		changed: make(chan struct{}),
	}
	for _, m := range members {
		next.byAddr[m.Addr], next.byName[m.Name] = m.Name, m.Addr
	}
	t.mu.Lock()
	close(t.view.Swap(next).changed)
	var gone []*peer
	for a, p := range t.peers {
		if !next.member(a) {
			gone = append(gone, p)
			delete(t.peers, a)
		}
	}
	for a, h := range t.held {
		if !next.member(a) || t.closed {
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
	if !t.view.Load().member(addr) {
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
	if !t.view.Load().member(addr) {
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
	case t.view.Load().member(addr):
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
	case *wire.Broadcast:
		m.Body = &Message_Broadcast{Broadcast: b}
	case *wire.BroadcastAck:
		m.Body = &Message_BroadcastAck{BroadcastAck: b}
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

// Stream delivers the frames of one peer. With TLS, the peer's
// certificate must name a node, and each frame is admitted before it is
// delivered: the peer must be a member, sending only in its own name
// (admit); otherwise the stream ends with PermissionDenied.
func (s server) Stream(stream grpc.ClientStreamingServer[Frame, Done]) error {
	t, ctx := s.t, stream.Context()
	secure := t.opts.TLS != nil
	name, remote, err := t.identify(ctx)
	if err != nil {
		return t.refuse(name, remote, err)
	}
	for {
		f, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&Done{})
		}
		if err != nil {
			return err
		}
		msgs := f.GetMessages()
		if secure {
			if err := t.admit(ctx, name, msgs); err != nil {
				return t.refuse(name, remote, err)
			}
		}
		t.delivered.Add(int64(len(msgs)))
		for _, m := range msgs {
			t.deliver(m)
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
	case *Message_Broadcast:
		msg = b.Broadcast
	case *Message_BroadcastAck:
		msg = b.BroadcastAck
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
	if m.GetSenderId() != "" {
		// As protoactor's RequestWithCustomSender wraps it.
		msg = &pa.MessageEnvelope{Message: msg, Sender: &pa.PID{
			Address: m.GetSenderAddress(), Id: m.GetSenderId(), RequestId: m.GetSenderRequest()}}
	}
	id, request := m.GetTarget(), m.GetTargetRequest()
	if p := t.resident[id]; p != nil {
		p.SendUserMessage(&pa.PID{Address: t.addr, Id: id, RequestId: request}, msg)
		return
	}
	if request != 0 {
		// A request number names one call: its PID is not worth keeping.
		t.system.Root.Send(&pa.PID{Address: t.addr, Id: id, RequestId: request}, msg)
		return
	}
	t.system.Root.Send(t.targets.pid(t.addr, id), msg)
}
