package transport

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter log throttle waits out its interval
		// after the system that started it is gone.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// newSystem returns an actor system that logs nothing.
func newSystem() *pa.ActorSystem {
	return pa.NewActorSystem(pa.WithLoggerFactory(func(*pa.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
}

// node is an actor system with a transport, and an inbox process that
// records what it receives.
type node struct {
	system *pa.ActorSystem
	t      *Transport
	inbox  chan received
}

type received struct {
	pid    *pa.PID
	msg    any
	sender *pa.PID
}

// inbox is a protoactor Process that forwards what it receives.
type inbox chan received

func (in inbox) SendUserMessage(pid *pa.PID, message any) {
	_, msg, sender := pa.UnwrapEnvelope(message)
	in <- received{pid, msg, sender}
}
func (inbox) SendSystemMessage(*pa.PID, any) {}
func (inbox) Stop(*pa.PID)                   {}

func newNode(t *testing.T, addr string, opts Options) *node {
	t.Helper()
	return newNodeWith(t, addr, opts, nil)
}

// newNodeWith is newNode whose transport starts with resident processes.
func newNodeWith(t *testing.T, addr string, opts Options, resident map[string]pa.Process) *node {
	t.Helper()
	tr, err := Listen(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	system := newSystem()
	system.ProcessRegistry.Address = tr.BoundAddr()
	tr.Start(system, tr.BoundAddr(), resident)
	n := &node{system: system, t: tr, inbox: make(chan received, 100_000)}
	system.ProcessRegistry.Add(inbox(n.inbox), "inbox")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Close(ctx)
		system.Shutdown()
	})
	return n
}

// pair returns two nodes that may send to each other.
func pair(t *testing.T, opts Options) (*node, *node) {
	a, b := newNode(t, "127.0.0.1:0", opts), newNode(t, "127.0.0.1:0", opts)
	a.t.SetMembers(at(b.t.Addr()))
	b.t.SetMembers(at(a.t.Addr()))
	return a, b
}

func (n *node) pid(id string) *pa.PID { return pa.NewPID(n.t.Addr(), id) }

func (n *node) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-n.inbox:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
		return received{}
	}
}

// TestResidentProcessesAreReachedDirectly: a message for a process Start
// named resident reaches it, with its target's request number and its
// sender, though the actor system's registry does not hold it; other
// targets still go through the registry.
func TestResidentProcessesAreReachedDirectly(t *testing.T) {
	resident := make(inbox, 10)
	a := newNode(t, "127.0.0.1:0", Options{})
	b := newNodeWith(t, "127.0.0.1:0", Options{}, map[string]pa.Process{"resident": resident})
	a.t.SetMembers(at(b.t.Addr()))
	b.t.SetMembers(at(a.t.Addr()))
	sender := &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 7}
	target := &pa.PID{Address: b.t.Addr(), Id: "resident", RequestId: 42}
	a.system.Root.RequestWithCustomSender(target, &wire.Reply{Payload: []byte("to resident")}, sender)
	a.system.Root.Send(b.pid("inbox"), &wire.Reply{Payload: []byte("to inbox")})
	var got received
	select {
	case got = <-resident:
	case <-time.After(10 * time.Second):
		t.Fatal("the resident process received nothing")
	}
	if got.pid.RequestId != 42 || string(got.msg.(*wire.Reply).GetPayload()) != "to resident" {
		t.Fatalf("resident got %v for %v; want the payload for request 42", got.msg, got.pid)
	}
	if !got.sender.Equal(sender) || got.sender.RequestId != 7 {
		t.Fatalf("sender %v, want %v with request 7", got.sender, sender)
	}
	if r := b.next(t); string(r.msg.(*wire.Reply).GetPayload()) != "to inbox" || r.sender != nil {
		t.Fatalf("inbox got %v from %v; want the payload without sender", r.msg, r.sender)
	}
}

func TestRequestAndReplyKeepTheirPIDs(t *testing.T) {
	a, b := pair(t, Options{})
	sender := &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 42}
	env := &wire.Envelope{Capability: "echo", Id: "x", Payload: []byte("hello"), PayloadType: "t"}
	// Through protoactor, as the node's code sends.
	a.system.Root.RequestWithCustomSender(b.pid("inbox"), env, sender)
	got := b.next(t)
	if !proto.Equal(got.msg.(*wire.Envelope), env) {
		t.Fatalf("received %v, want %v", got.msg, env)
	}
	if !got.sender.Equal(sender) || got.sender.RequestId != 42 {
		t.Fatalf("sender %v, want %v with request 42", got.sender, sender)
	}
	// The answer goes back to the sender's PID, request number included.
	b.system.Root.Send(got.sender, &wire.Reply{Payload: []byte("hi")})
	rep := a.next(t)
	if rep.pid.RequestId != 42 || string(rep.msg.(*wire.Reply).GetPayload()) != "hi" {
		t.Fatalf("reply %v to %v; want payload hi to request 42", rep.msg, rep.pid)
	}
	// And every other kind.
	for _, msg := range []any{&wire.Ping{Sent: 1}, &wire.Pong{Node: "b"}, &pa.DeadLetterResponse{}} {
		if err := a.t.Send(b.pid("inbox"), msg, nil); err != nil {
			t.Fatal(err)
		}
		if got := b.next(t); fmt.Sprintf("%T", got.msg) != fmt.Sprintf("%T", msg) {
			t.Fatalf("sent %T, received %T", msg, got.msg)
		}
	}
	if err := a.t.Send(b.pid("inbox"), "a string", nil); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("Send of a string: %v, want ErrUnknownKind", err)
	}
}

func TestOrderIsKeptPerPair(t *testing.T) {
	a, b := pair(t, Options{MaxFrame: 4 << 10})
	const n = 20_000
	for i := range n {
		if err := a.t.Send(b.pid("inbox"), &wire.Ping{Sent: int64(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got := b.next(t).msg.(*wire.Ping).GetSent(); got != int64(i) {
			t.Fatalf("message %d arrived as number %d", got, i)
		}
	}
}

func TestDeadLetterForAProcessThatDoesNotExist(t *testing.T) {
	a, b := pair(t, Options{})
	a.system.Root.RequestWithCustomSender(b.pid("nobody"), &wire.Ping{}, &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 7})
	got := a.next(t)
	if _, ok := got.msg.(*pa.DeadLetterResponse); !ok || got.pid.RequestId != 7 {
		t.Fatalf("got %T to %v; want a dead letter to request 7", got.msg, got.pid)
	}
}

// TestARememberedPIDOfAStoppedProcessDeadLetters: messages for a process
// reuse the PID the first one resolved, and once the process has stopped
// they are answered with dead letters, as for one that never existed.
func TestARememberedPIDOfAStoppedProcessDeadLetters(t *testing.T) {
	a, b := pair(t, Options{})
	got := make(chan any, 10)
	pid := b.system.Root.Spawn(pa.PropsFromFunc(func(c pa.Context) {
		if m, ok := c.Message().(*wire.Ping); ok {
			got <- m
		}
	}))
	sender := &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 9}
	remote := pa.NewPID(b.t.Addr(), pid.Id)
	for range 2 {
		a.system.Root.RequestWithCustomSender(remote, &wire.Ping{}, sender)
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the process received nothing")
		}
	}
	if p := b.t.targets.pid(b.t.Addr(), pid.Id); p != b.t.targets.pid(b.t.Addr(), pid.Id) {
		t.Fatal("the PID of a process is not remembered")
	}
	if err := b.system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	a.system.Root.RequestWithCustomSender(remote, &wire.Ping{}, sender)
	dead := a.next(t)
	if _, ok := dead.msg.(*pa.DeadLetterResponse); !ok || dead.pid.RequestId != 9 {
		t.Fatalf("got %T to %v; want a dead letter to request 9", dead.msg, dead.pid)
	}
}

// TestTargetsKeepTheLastIDOfASlot: a PID is remembered per slot; another
// ID of the same slot takes it, and an ID never shares another's PID.
func TestTargetsKeepTheLastIDOfASlot(t *testing.T) {
	c := newTargets()
	first := c.pid("a:1", "$1")
	if c.pid("a:1", "$1") != first {
		t.Fatal("the same ID got a new PID")
	}
	if p := c.pid("b:1", "$1"); p == first || p.Address != "b:1" {
		t.Fatalf("another address got %v", p)
	}
	first = c.pid("a:1", "$1")
	slot := func(id string) uint64 { return maphash.String(c.seed, id) % targetSlots }
	var rival string
	for i := 2; rival == ""; i++ {
		if id := fmt.Sprint("$", i); slot(id) == slot("$1") {
			rival = id
		}
	}
	if p := c.pid("a:1", rival); p == first || p.Id != rival {
		t.Fatalf("%s, of the slot of $1, got %v", rival, p)
	}
	if p := c.pid("a:1", "$1"); p == first || p.Id != "$1" {
		t.Fatalf("$1 got %v after %s took its slot; want a new PID of its own", p, rival)
	}
	// A long ID, which a hostile peer could send to pin memory in every
	// slot, is never remembered.
	long := strings.Repeat("x", maxTargetID+1)
	if p := c.pid("a:1", long); p.Id != long || c.pid("a:1", long) == p {
		t.Fatal("a long ID was remembered")
	}
	for i := range c.slots {
		if p := c.slots[i].Load(); p != nil && len(p.Id) > maxTargetID {
			t.Fatalf("slot %d holds an ID of %d bytes", i, len(p.Id))
		}
	}
}

func TestOnlyMembersAreDialed(t *testing.T) {
	a, b := pair(t, Options{})
	stranger, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := stranger.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	to := pa.NewPID(stranger.Addr().String(), "inbox")
	if err := a.t.Send(to, &wire.Ping{}, nil); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Send to a non-member: %v, want ErrNotMember", err)
	}
	// Nor through protoactor: a reply addressed to any address.
	a.system.Root.Send(to, &wire.Reply{})
	// A member that is dropped is not sent to any more.
	a.t.SetMembers(nil)
	if err := a.t.Send(b.pid("inbox"), &wire.Ping{}, nil); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Send to a former member: %v, want ErrNotMember", err)
	}
	select {
	case <-accepted:
		t.Fatal("the transport dialed an address that is not a member's")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestTooLargeFailsAtOnce(t *testing.T) {
	a, b := pair(t, Options{MaxPayload: 1 << 10})
	big := &wire.Envelope{Payload: make([]byte, 2*envelopeRoom)}
	if err := a.t.Send(b.pid("inbox"), big, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send of %d bytes: %v, want ErrTooLarge", len(big.Payload), err)
	}
	// Messages up to the limit travel, and the stream is not harmed.
	ok := &wire.Envelope{Payload: make([]byte, 1<<10)}
	if err := a.t.Send(b.pid("inbox"), ok, nil); err != nil {
		t.Fatal(err)
	}
	b.next(t)
}

func TestFullQueueIsAnError(t *testing.T) {
	// A member that accepts connections and never speaks: nothing leaves
	// the queue.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() {
		silent.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	}()
	a := newNode(t, "127.0.0.1:0", Options{MaxQueue: 64 << 10})
	a.t.SetMembers(at(silent.Addr().String()))
	to := pa.NewPID(silent.Addr().String(), "inbox")
	msg := &wire.Envelope{Payload: make([]byte, 1<<10)}
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		full = a.t.Send(to, msg, nil)
	}
	if !errors.Is(full, ErrQueueFull) {
		t.Fatalf("1,000 messages of 1 KiB to a silent peer with a 64 KiB queue: %v, want ErrQueueFull", full)
	}
}

func TestUnreachablePeerAnswersQueuedRequests(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close() // nothing listens there any more
	a := newNode(t, "127.0.0.1:0", Options{})
	a.t.SetMembers(at(gone))
	start := time.Now()
	a.system.Root.RequestWithCustomSender(pa.NewPID(gone, "router"), &wire.Envelope{}, &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 3})
	got := a.next(t)
	if _, ok := got.msg.(*pa.DeadLetterResponse); !ok || got.pid.RequestId != 3 {
		t.Fatalf("got %T to %v; want a dead letter to request 3", got.msg, got.pid)
	}
	t.Logf("a request to a member that does not listen was answered after %v", time.Since(start).Round(time.Millisecond))
}

func TestPeerRestartedOnTheSameAddress(t *testing.T) {
	a, b := pair(t, Options{})
	addr := b.t.Addr()
	if err := a.t.Send(b.pid("inbox"), &wire.Ping{Sent: 1}, nil); err != nil {
		t.Fatal(err)
	}
	b.next(t)
	if err := b.t.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b2 := newNode(t, addr, Options{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := a.t.Send(b2.pid("inbox"), &wire.Ping{Sent: 2}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b2.inbox:
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("messages never reached the restarted peer")
		}
	}
}

// TestHostileInputLeavesTheNodeServing: garbage on the port, a call of
// another gRPC method (protoactor remote's ListProcesses killed a node),
// a frame over the size limit and frames of empty or unknown messages are
// refused, and the node keeps serving.
func TestHostileInputLeavesTheNodeServing(t *testing.T) {
	a, b := pair(t, Options{MaxPayload: 1 << 10, MaxFrame: 1 << 10})
	c, err := net.Dial("tcp", b.t.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte(strings.Repeat("garbage\x00\xff", 1000)))
	c.Close()

	conn, err := grpc.NewClient("passthrough:///"+b.t.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, method := range []string{"/remote.Remoting/ListProcesses", "/mesh.transport.v1.Transport/Nothing", "/x"} {
		err := conn.Invoke(ctx, method, &Done{}, &Done{})
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("unary %s: %v, want Unimplemented", method, err)
		}
	}
	stream, err := NewTransportClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&Frame{Messages: []*Message{{}, {Target: "inbox"}, {Body: &Message_Ping{}}}})
	_ = stream.Send(&Frame{Messages: []*Message{{Target: "inbox", Body: &Message_Envelope{Envelope: &wire.Envelope{Payload: make([]byte, 1<<20)}}}}})
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a frame over the limit: %v, want ResourceExhausted", err)
	}
	if err := a.t.Send(b.pid("inbox"), &wire.Ping{Sent: 9}, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.next(t); got.msg.(*wire.Ping).GetSent() != 9 {
		t.Fatalf("after hostile input received %v", got.msg)
	}
}

// FuzzDeliver: whatever bytes arrive as a frame, decoding and delivering
// its messages does not panic.
func FuzzDeliver(f *testing.F) {
	for _, fr := range []*Frame{
		{Messages: []*Message{{Target: "inbox", Body: &Message_Envelope{Envelope: &wire.Envelope{Id: "x"}}}}},
		{Messages: []*Message{{Target: "nobody", SenderId: "inbox", SenderAddress: "10.0.0.1:1", Body: &Message_Ping{Ping: &wire.Ping{}}}}},
		{Messages: []*Message{{Body: &Message_DeadLetter{DeadLetter: "x"}}, {}}},
	} {
		b, err := proto.Marshal(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	system := newSystem()
	defer system.Shutdown()
	system.ProcessRegistry.Address = "127.0.0.1:1"
	sink := make(inbox, 1<<16)
	system.ProcessRegistry.Add(sink, "inbox")
	// A transport that resolves PIDs but serves no port: deliver is what
	// the fuzzer drives.
	tr, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer tr.Close(context.Background())
	tr.system, tr.addr = system, "127.0.0.1:1"
	system.ProcessRegistry.RegisterAddressResolver(tr.resolve)
	f.Fuzz(func(t *testing.T, in []byte) {
		var fr Frame
		if err := proto.Unmarshal(in, &fr); err != nil {
			return
		}
		for _, m := range fr.GetMessages() {
			tr.deliver(m)
		}
		for len(sink) > 0 {
			<-sink
		}
	})
}

// TestRepliesToAJoiningNodeAreHeld: a reply protoactor sends to a node that
// this one does not know as a member yet (it has just joined) waits for
// SetMembers to name it instead of being lost; a request held for an
// address that never becomes a member is answered with a dead letter after
// holdTimeout. Neither is dialed before.
func TestRepliesToAJoiningNodeAreHeld(t *testing.T) {
	a, b := newNode(t, "127.0.0.1:0", Options{}), newNode(t, "127.0.0.1:0", Options{})
	a.t.SetMembers(at(b.t.Addr()))
	b.system.Root.Send(&pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 5}, &wire.Reply{Payload: []byte("late")})
	b.system.Root.RequestWithCustomSender(pa.NewPID("127.0.0.1:1", "router"), &wire.Envelope{},
		&pa.PID{Address: b.t.Addr(), Id: "inbox", RequestId: 6})
	start := time.Now()
	select {
	case r := <-a.inbox:
		t.Fatalf("%v arrived before its node was a member", r.msg)
	case <-time.After(100 * time.Millisecond):
	}
	b.t.SetMembers(at(a.t.Addr()))
	got := a.next(t)
	if got.pid.RequestId != 5 || string(got.msg.(*wire.Reply).GetPayload()) != "late" {
		t.Fatalf("got %v to %v; want the held reply to request 5", got.msg, got.pid)
	}
	dead := b.next(t)
	if _, ok := dead.msg.(*pa.DeadLetterResponse); !ok || dead.pid.RequestId != 6 {
		t.Fatalf("got %T to %v; want a dead letter to request 6", dead.msg, dead.pid)
	}
	if took := time.Since(start); took < holdTimeout-100*time.Millisecond {
		t.Fatalf("the held request was answered after %v, before holdTimeout", took)
	}
}

// FuzzSizeBoundsTheEncoding: the size the queue and the frames count for a
// message is never below its real encoding.
func FuzzSizeBoundsTheEncoding(f *testing.F) {
	f.Add("router", "127.0.0.1:1", "mesh-replies", uint32(7), "chat", "room-1", []byte("payload"), "traceparent", "00-abc", "a failure", true)
	f.Add("", "", "", uint32(0), "", "", []byte(nil), "", "", "", false)
	f.Fuzz(func(t *testing.T, target, senderAddr, senderID string, req uint32, capability, id string, payload []byte, k, v, failure string, reply bool) {
		m := &Message{Target: target, SenderAddress: senderAddr, SenderId: senderID, SenderRequest: req, TargetRequest: req}
		if reply {
			m.Body = &Message_Reply{Reply: &wire.Reply{Payload: payload, PayloadType: k, PidAddress: senderAddr, PidId: id,
				Failure: &wire.Failure{Code: wire.Code(req), Message: failure}, Redirect: &wire.Redirect{Owner: v, RingVersion: uint64(req) << 40},
				Incarnation: ^uint64(0), CallerIncarnation: ^uint64(0)}}
		} else {
			m.Body = &Message_Envelope{Envelope: &wire.Envelope{Capability: capability, Id: id, Shard: req, RingVersion: ^uint64(0),
				Deadline: -1, Payload: payload, PayloadType: k, Cast: true, Hops: req, WantPid: true, Trace: map[string]string{k: v, v: failure},
				Incarnation: ^uint64(0), CallerIncarnation: ^uint64(0)}}
		}
		if got, real := size(m), proto.Size(&Frame{Messages: []*Message{m}}); got < real {
			t.Fatalf("size %d below the real %d", got, real)
		}
		h := &Message{Target: target, SenderAddress: senderAddr, SenderId: senderID, SenderRequest: req, TargetRequest: req,
			Body: &Message_Handoff{Handoff: &wire.Handoff{From: k, Capability: capability, Done: true,
				Shards: []uint32{req, ^uint32(0), 0},
				States: []*wire.State{{Id: id, Shard: ^req, Type: v, Data: payload, Format: ^uint32(0), Version: ^uint64(0)}, {Id: failure, Data: payload}}}}}
		if got, real := size(h), proto.Size(&Frame{Messages: []*Message{h}}); got < real {
			t.Fatalf("handoff: size %d below the real %d", got, real)
		}
		a := &Message{Target: target, Body: &Message_HandoffAck{HandoffAck: &wire.HandoffAck{Restored: ^uint32(0), Refused: ^uint32(0), RefusedIds: []string{id, failure, ""}}}}
		if got, real := size(a), proto.Size(&Frame{Messages: []*Message{a}}); got < real {
			t.Fatalf("handoff ack: size %d below the real %d", got, real)
		}
		b := &Message{Target: target, SenderAddress: senderAddr, SenderId: senderID, SenderRequest: req, TargetRequest: req,
			Body: &Message_Broadcast{Broadcast: &wire.Broadcast{Capability: capability, Payload: payload, PayloadType: k,
				Deadline: -1, Trace: map[string]string{k: v, v: failure}}}}
		if got, real := size(b), proto.Size(&Frame{Messages: []*Message{b}}); got < real {
			t.Fatalf("broadcast: size %d below the real %d", got, real)
		}
		ba := &Message{Target: target, Body: &Message_BroadcastAck{BroadcastAck: &wire.BroadcastAck{Delivered: ^uint32(0),
			Failure: &wire.Failure{Code: wire.Code(req), Message: failure}}}}
		if got, real := size(ba), proto.Size(&Frame{Messages: []*Message{ba}}); got < real {
			t.Fatalf("broadcast ack: size %d below the real %d", got, real)
		}
	})
}

// TestAMessageThatCannotBeEncodedBlocksNothing: a message gRPC cannot
// encode (proto3 strings must be UTF-8) is answered with a dead letter,
// and every message queued with it or after it still arrives.
func TestAMessageThatCannotBeEncodedBlocksNothing(t *testing.T) {
	a, b := pair(t, Options{})
	bad := &wire.Reply{Failure: &wire.Failure{Message: "\xff\xfe"}}
	if err := a.t.Send(b.pid("inbox"), bad, &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 9}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := a.t.Send(b.pid("inbox"), &wire.Ping{Sent: int64(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if got := b.next(t).msg.(*wire.Ping).GetSent(); got != int64(i) {
			t.Fatalf("ping %d arrived as number %d", got, i)
		}
	}
	if got := a.next(t); got.pid.RequestId != 9 {
		t.Fatalf("the sender of the bad message got %T to %v; want a dead letter to request 9", got.msg, got.pid)
	}
}

// TestCloseDeliversWhatIsQueued: messages queued before Close reach the
// other node before Close returns.
func TestCloseDeliversWhatIsQueued(t *testing.T) {
	a, b := pair(t, Options{})
	const n = 2000
	for i := range n {
		if err := a.t.Send(b.pid("inbox"), &wire.Envelope{Payload: make([]byte, 2<<10), Hops: uint32(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.t.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(b.inbox); got != n {
		t.Fatalf("%d of %d queued messages arrived before Close returned", got, n)
	}
}

// TestHoldForAMemberUsesItsPeer: a message protoactor sends to an address
// that became a member between the membership check and the hold goes to
// that member's peer, and is not dead-lettered after holdTimeout.
func TestHoldForAMemberUsesItsPeer(t *testing.T) {
	a, b := pair(t, Options{})
	m, _ := messageOf(b.pid("inbox"), &wire.Ping{Sent: 5}, nil)
	if err := a.t.hold(b.t.Addr(), m); err != nil {
		t.Fatal(err)
	}
	if got := b.next(t).msg.(*wire.Ping).GetSent(); got != 5 {
		t.Fatalf("got ping %d", got)
	}
	a.t.mu.Lock()
	held := len(a.t.held)
	a.t.mu.Unlock()
	if held != 0 {
		t.Fatalf("%d addresses held for a member", held)
	}
}

// TestCloseIsNotHeldByAStalledConnection: a connection that never finishes
// its handshake (a port scanner, a stalled TLS client) does not hold Close
// up for gRPC's two-minute default.
func TestCloseIsNotHeldByAStalledConnection(t *testing.T) {
	b := newNode(t, "127.0.0.1:0", Options{})
	c, err := net.Dial("tcp", b.t.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // let the server take the connection
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = b.t.Close(ctx)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Close took %v with a stalled connection open", took)
	}
}

// at returns members at addrs, each named after its address.
func at(addrs ...string) []Member {
	ms := make([]Member, len(addrs))
	for i, a := range addrs {
		ms[i] = Member{Name: a, Addr: a}
	}
	return ms
}

// TestCutDropsAndHeals: while Options.Cut cuts the peer's address,
// messages to it are dropped, none reaching it and none answered with a
// dead letter; once the cut ends, they flow again on the same peer.
func TestCutDropsAndHeals(t *testing.T) {
	var cut atomic.Bool
	a := newNode(t, "127.0.0.1:0", Options{Cut: func(string) bool { return cut.Load() }})
	b := newNode(t, "127.0.0.1:0", Options{})
	a.t.SetMembers(at(b.t.Addr()))
	b.t.SetMembers(at(a.t.Addr()))
	sender := &pa.PID{Address: a.t.Addr(), Id: "inbox"}
	send := func(i int) {
		env := &wire.Envelope{Capability: "echo", Id: fmt.Sprint(i), PayloadType: "t"}
		if err := a.t.Send(b.pid("inbox"), env, sender); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	b.next(t)
	cut.Store(true)
	const dropped = 50
	for i := range dropped {
		send(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.t.Cut() < dropped && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := a.t.Cut(); got != dropped {
		t.Fatalf("%d messages cut, want %d", got, dropped)
	}
	cut.Store(false)
	send(-1)
	if got := b.next(t).msg.(*wire.Envelope).GetId(); got != "-1" {
		t.Fatalf("after the cut, received %q first, want -1", got)
	}
	select {
	case r := <-a.inbox:
		t.Fatalf("the sender received %T for a cut message", r.msg)
	case <-b.inbox:
		t.Fatal("a cut message arrived")
	default:
	}
}
