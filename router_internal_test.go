package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/transport"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoCap answers "<node>/<id>: <msg>".
func echoCap(node string) Capability {
	return Capability{Name: "echo", New: func(id string) Process {
		return ProcessFunc(func(ctx Context, msg proto.Message) (proto.Message, error) {
			return wrapperspb.String(fmt.Sprintf("%s/%s: %s", node, id, msg.(*wrapperspb.StringValue).GetValue())), nil
		})
	}}
}

// startTestCluster starts size nodes offering echo and waits until each
// routes echo over all of them.
func startTestCluster(t *testing.T, size int) []*Node {
	t.Helper()
	var nodes []*Node
	var seeds []string
	for i := range size {
		cfg := DefaultLocalConfig()
		cfg.NodeName = fmt.Sprintf("node-%d", i+1)
		cfg.Seeds = seeds
		cfg.DrainTimeout = 100 * time.Millisecond
		if os.Getenv("MESH_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		if err := n.RegisterCapabilities(echoCap(n.name)); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			if r := n.routes.Load().table.Ring("echo"); r == nil || len(r.Nodes()) != size {
				ok = false
			}
		}
		if ok {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatal("cluster did not converge")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ask sends msg to pid from n and waits for the answer.
func ask(t *testing.T, n *Node, pid *pa.PID, msg any) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := n.ask(ctx, pid, msg)
	if err != nil {
		t.Fatalf("no answer to %T: %v", msg, err)
	}
	return reply
}

func idOn(t *testing.T, n *Node, owner string) string {
	t.Helper()
	for i := range 10000 {
		id := fmt.Sprint("id-", i)
		if o, _ := n.owner("echo", shard.Of(id, n.cfg.Shards)); o == owner {
			return id
		}
	}
	t.Fatalf("no ID on %s", owner)
	return ""
}

// TestRouterAnswersCraftedEnvelopes: malformed or misdirected envelopes from
// the network get an error reply (and a log line), and the node keeps
// serving.
func TestRouterAnswersCraftedEnvelopes(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	router := pa.NewPID(b.remoteAddr, routerName)
	onB, onA := idOn(t, a, b.name), idOn(t, a, a.name)
	goodType, good, _ := wire.Pack(wrapperspb.String("hi"))
	env := func(id string, edit func(*wire.Envelope)) *wire.Envelope {
		e := &wire.Envelope{Capability: "echo", Id: id, Shard: shard.Of(id, a.cfg.Shards), Payload: good, PayloadType: goodType,
			CallerIncarnation: a.incarnation}
		if edit != nil {
			edit(e)
		}
		return e
	}
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want func(*wire.Reply) bool
	}{
		{"well formed", env(onB, nil), func(r *wire.Reply) bool { return r.Payload != nil }},
		{"unknown payload type", env(onB, func(e *wire.Envelope) {
			e.PayloadType, e.Payload = "no.such.Message", []byte{1, 2, 3}
		}), isFailure(wire.Code_CODE_BAD_PAYLOAD)},
		{"garbage payload bytes", env(onB, func(e *wire.Envelope) {
			e.Payload = []byte{0xff, 0xff, 0xff}
		}), isFailure(wire.Code_CODE_BAD_PAYLOAD)},
		{"no payload", env(onB, func(e *wire.Envelope) { e.Payload, e.PayloadType = nil, "" }), isFailure(wire.Code_CODE_BAD_PAYLOAD)},
		{"empty ID", env("", nil), isFailure(wire.Code_CODE_INVALID_REQUEST)},
		{"bad capability", env(onB, func(e *wire.Envelope) { e.Capability = "no/such" }), isFailure(wire.Code_CODE_INVALID_REQUEST)},
		{"shard count mismatch", env(onB, func(e *wire.Envelope) { e.Shard = (e.Shard + 1) % uint32(a.cfg.Shards) }), isFailure(wire.Code_CODE_INVALID_REQUEST)},
		{"not the owner", env(onA, nil), func(r *wire.Reply) bool { return r.Redirect != nil && r.Redirect.Owner == a.name }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, ok := ask(t, a, router, tc.msg).(*wire.Reply)
			if !ok || !tc.want(reply) {
				t.Fatalf("answer %v", reply)
			}
		})
	}
	// Still serving.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Call(ctx, Request{Capability: "echo", ID: onB, Payload: wrapperspb.String("still there?")}); err != nil {
		t.Fatal(err)
	}
}

func isFailure(code wire.Code) func(*wire.Reply) bool {
	return func(r *wire.Reply) bool { return r.Failure != nil && r.Failure.Code == code }
}

// TestHostileTransportInputDoesNotKillNode: garbage on the transport
// port, a unary call of any gRPC method (protoactor remote's ListProcesses
// killed a node with one call), and frames of malformed messages or of an
// envelope whose sender names an address that is no member's leave the
// node serving, and dialing nothing it was not told to.
func TestHostileTransportInputDoesNotKillNode(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	raw, err := net.Dial("tcp", b.remoteAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte(strings.Repeat("\x00\xffPRI * HTTP/2.0 garbage", 500)))
	raw.Close()

	conn, err := grpc.NewClient("passthrough:///"+b.remoteAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, method := range []string{"/remote.Remoting/ListProcesses", "/remote.Remoting/GetProcessDiagnostics", "/grpc.health.v1.Health/Check"} {
		if err := conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{}); status.Code(err) != codes.Unimplemented {
			t.Fatalf("unary %s: %v, want Unimplemented", method, err)
		}
	}
	typ, body, _ := wire.Pack(wrapperspb.String("x"))
	id := idOn(t, a, b.name)
	stream, err := transport.NewTransportClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&transport.Frame{Messages: []*transport.Message{
		{},
		{Target: routerName},
		{Target: "$999999", Body: &transport.Message_Ping{Ping: &wire.Ping{}}},
		{Target: routerName, SenderAddress: "192.0.2.1:9", SenderId: "x", Body: &transport.Message_Envelope{
			Envelope: &wire.Envelope{Capability: "echo", Id: id, Shard: shard.Of(id, b.cfg.Shards), Payload: body, PayloadType: typ}}},
		{Target: routerName, Body: &transport.Message_Envelope{Envelope: &wire.Envelope{Capability: "echo", Id: id, PayloadType: "no.such.Type"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatalf("a frame of malformed messages: %v", err)
	}
	call, cancelCall := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelCall()
	if _, err := a.Call(call, Request{Capability: "echo", ID: id, Payload: wrapperspb.String("alive?")}); err != nil {
		t.Fatalf("node stopped serving after hostile input: %v", err)
	}
}

// TestStaleViewIsRedirected: a caller whose view names the wrong owner is
// redirected by that node to the true owner, within the same call.
func TestStaleViewIsRedirected(t *testing.T) {
	nodes := startTestCluster(t, 3)
	caller := nodes[0]
	current := caller.routes.Load()
	// A stale view in which node-3 does not offer echo yet.
	stale := &routes{members: current.members, routers: current.routers,
		table: shard.Build(caller.cfg.Shards, []shard.Member{
			{Name: "node-1", Capabilities: []string{"echo"}},
			{Name: "node-2", Capabilities: []string{"echo"}},
		}, nil)}
	var id string
	for i := range 10000 {
		cand := fmt.Sprint("id-", i)
		s := shard.Of(cand, caller.cfg.Shards)
		if current.table.Ring("echo").Owner(s) == "node-3" && stale.table.Ring("echo").Owner(s) == "node-2" {
			id = cand
			break
		}
	}
	if id == "" {
		t.Fatal("no ID moves from node-2 to node-3")
	}
	caller.routes.Store(stale)
	defer caller.routes.Store(current)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := caller.Call(ctx, Request{Capability: "echo", ID: id, Payload: wrapperspb.String("where?")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reply.(*wrapperspb.StringValue).GetValue(), "node-3/"+id+": where?"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestDeadLetteredLocalCallIsAnswered: a local call whose activation
// stopped between lookup and send is answered ErrMoved at once (so the
// caller routes it again), not left to its deadline.
func TestDeadLetteredLocalCallIsAnswered(t *testing.T) {
	n := startTestCluster(t, 1)[0]
	id := idOn(t, n, n.name)
	pid, err := n.table.Ensure("echo", id, shard.Of(id, n.cfg.Shards))
	if err != nil {
		t.Fatal(err)
	}
	n.table.StopAll(actor.StopClosing)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, alive := n.system.ProcessRegistry.Get(pid); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the activation did not stop")
		}
		time.Sleep(time.Millisecond)
	}
	ch := make(chan activation.Response, 1)
	n.system.Root.Send(pid, &activation.Request{Payload: wrapperspb.String("late"), Reply: ch})
	select {
	case resp := <-ch:
		if !errors.Is(resp.Err, activation.ErrMoved) {
			t.Fatalf("answer %+v, want ErrMoved", resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a dead-lettered local call got no answer")
	}
}

// TestCachedPIDOfStoppedActivation: a caller whose cached PID names an
// activation that is gone gets protoactor's dead-letter answer through the
// reply process, drops the entry and reaches a new activation through the
// owner's router, well within its deadline.
func TestCachedPIDOfStoppedActivation(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	id := idOn(t, a, b.name)
	call := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		reply, err := a.Call(ctx, Request{Capability: "echo", ID: id, Payload: wrapperspb.String("x")})
		if err != nil {
			return "", err
		}
		return reply.(*wrapperspb.StringValue).GetValue(), nil
	}
	if _, err := call(); err != nil {
		t.Fatal(err)
	}
	s := shard.Of(id, a.cfg.Shards)
	cached, ok := a.cache.Get("echo", id, s)
	if !ok {
		t.Fatal("the caller did not cache the activation's PID")
	}
	b.table.StopAll(actor.StopClosing)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, alive := b.system.ProcessRegistry.GetLocal(cached.PID.Id); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the activation did not stop")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := call(); err != nil {
		t.Fatalf("call after the activation stopped: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the call took %v: the dead letter was not noticed", took)
	}
	if now, _ := a.cache.Get("echo", id, s); now.PID.Equal(cached.PID) {
		t.Fatal("the stale PID is still cached")
	}
}

// TestRouterDropsExpiredEnvelopes: an envelope whose deadline has passed
// is dropped by the owner's router before anything is activated for it.
func TestRouterDropsExpiredEnvelopes(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	payloadType, payload, _ := wire.Pack(wrapperspb.String("late"))
	r := &router{n: b}
	sent := 0
	for i := range 100 {
		id := idOn(t, a, b.name) + fmt.Sprint("-", i)
		s := shard.Of(id, b.cfg.Shards)
		if o, _ := b.owner("echo", s); o != b.name {
			continue
		}
		sent++
		for _, cast := range []bool{false, true} {
			r.SendUserMessage(nil, &wire.Envelope{Capability: "echo", Id: id, Shard: s, Payload: payload, PayloadType: payloadType, Cast: cast,
				Deadline: time.Now().Add(-time.Millisecond).UnixNano(), Incarnation: b.incarnation})
		}
	}
	if sent == 0 {
		t.Fatal("no ID of the 100 tried is on the owner")
	}
	if got := b.table.Len(); got != 0 {
		t.Fatalf("%d activations for %d expired envelopes", got, sent)
	}
	// A caller whose clock is behind the owner's learns why.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id := idOn(t, a, b.name)
	reply, err := a.ask(ctx, b.routes.Load().routers[b.name], &wire.Envelope{Capability: "echo", Id: id,
		Shard: shard.Of(id, a.cfg.Shards), Payload: payload, PayloadType: payloadType, CallerIncarnation: a.incarnation,
		Deadline: time.Now().Add(-time.Millisecond).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	if rep, ok := reply.(*wire.Reply); !ok || rep.GetFailure().GetCode() != wire.Code_CODE_DEADLINE {
		t.Fatalf("answer to an expired call %v; want a deadline failure", reply)
	}
}

// TestRouterReadsOneSnapshotPerMessage: while the placement changes under
// it, the router handles every envelope by one routing snapshot. Reading
// the owner from one snapshot and the owner's address from a newer one
// that lacks it would send to a nil PID and panic.
func TestRouterReadsOneSnapshotPerMessage(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	full := b.routes.Load()
	// The same placement without the members' addresses, as a snapshot
	// published while a member's metadata is being replaced.
	bare := &routes{table: full.table, list: full.list, members: full.members, routers: map[string]*pa.PID{}}
	id := idOn(t, b, a.name)
	s := shard.Of(id, b.cfg.Shards)
	payloadType, payload, _ := wire.Pack(wrapperspb.String("x"))
	r := &router{n: b}
	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for {
			select {
			case <-stop:
				b.routes.Store(full)
				return
			default:
				b.routes.Store(bare)
				b.routes.Store(full)
			}
		}
	}()
	defer func() {
		close(stop)
		<-flipped
	}()
	for range 200_000 {
		r.SendUserMessage(nil, &wire.Envelope{Capability: "echo", Id: id, Shard: s, Payload: payload, PayloadType: payloadType, Cast: true})
	}
}
