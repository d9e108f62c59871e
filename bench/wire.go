package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The wire limit: raw gRPC bidirectional streams between the same node
// processes, no actors. The caller keeps one stream to every other node;
// its callers queue (call number, payload) pairs, and one writer per stream
// sends whatever is queued as one frame (up to wireMaxFrame bytes),
// yielding once between frames while busy so that running callers can
// queue first, as mesh's transport does. The serving node echoes every
// frame it reads as one frame of answers. A call whose ID the placement
// puts on the calling node is answered at once. It says what any transport
// on gRPC could reach with the same message sizes and in-flight calls.
type wireNode struct {
	name    string
	lis     net.Listener
	srv     *grpc.Server
	replies *replyProcess // matches answers to waiting calls; never registered in protoactor
	peers   []string
	place   []int
	self    int

	mu    sync.Mutex // guards conns, links
	conns []*grpc.ClientConn
	links []*wireLink // by node index; nil for this node

	// frames and calls count what the caller's streams have sent.
	frames, calls atomic.Int64
}

// sent implements frameCounter.
func (w *wireNode) sent() (frames, calls int64) { return w.frames.Load(), w.calls.Load() }

// wireMaxFrame is the most payload bytes one frame gathers, mesh's
// transport's default frame size; a frame always takes at least one call.
const wireMaxFrame = 1 << 20

// wireMaxMsg bounds a frame as gRPC receives it, for every protoactor-based
// contender too: 256 calls of 64 KiB in one frame stay below it.
const wireMaxMsg = 64 << 20

// rawCodec sends frames, *[]byte, as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("wire: cannot send %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("wire: cannot receive into %T", v)
	}
	*b = append((*b)[:0], data...) // gRPC reuses data once this returns
	return nil
}

func (rawCodec) Name() string { return "meshbench-raw" }

var wireService = grpc.ServiceDesc{
	ServiceName: "meshbench.Wire",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "Echo", ServerStreams: true, ClientStreams: true,
		Handler: func(_ any, st grpc.ServerStream) error { return wireEcho(st) },
	}},
}

// A frame is a sequence of calls: call number (4 bytes), payload length
// (4 bytes), payload.
const wireHeader = 8

// wireEcho answers every frame of a stream with a frame of the same calls.
func wireEcho(st grpc.ServerStream) error {
	for {
		var in []byte
		if err := st.RecvMsg(&in); err != nil {
			return nil
		}
		out := make([]byte, 0, len(in))
		err := eachCall(in, func(id uint32, payload []byte) {
			out = appendCall(out, id, payload)
		})
		if err != nil {
			return err
		}
		if err := st.SendMsg(&out); err != nil {
			return nil
		}
	}
}

func appendCall(b []byte, id uint32, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

var errBadFrame = errors.New("wire: malformed frame")

func eachCall(f []byte, fn func(id uint32, payload []byte)) error {
	for len(f) > 0 {
		if len(f) < wireHeader {
			return errBadFrame
		}
		id, n := binary.LittleEndian.Uint32(f), binary.LittleEndian.Uint32(f[4:])
		if uint64(n) > uint64(len(f)-wireHeader) {
			return errBadFrame
		}
		fn(id, f[wireHeader:wireHeader+int(n)])
		f = f[wireHeader+int(n):]
	}
	return nil
}

func (w *wireNode) start(a startArgs) (nodeInfo, error) {
	w.name = a.Name
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nodeInfo{}, err
	}
	w.lis = lis
	w.srv = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(wireMaxMsg))
	w.srv.RegisterService(&wireService, struct{}{})
	go func() { _ = w.srv.Serve(lis) }()
	w.replies = newReplyProcess("")
	return nodeInfo{Remote: lis.Addr().String()}, nil
}

func (w *wireNode) await(context.Context, awaitArgs) error { return nil }

// prepare opens a stream to every other node, once.
func (w *wireNode) prepare(sp *spec) error {
	w.peers, w.self, w.place = sp.Peers, sp.Self, sp.Place
	if len(w.peers) == 0 {
		return nil
	}
	if len(w.place) < sp.IDs {
		return fmt.Errorf("wire: placement of %d IDs for a run over %d", len(w.place), sp.IDs)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.links != nil {
		return nil
	}
	w.links = make([]*wireLink, len(w.peers))
	for i, addr := range w.peers {
		if i == w.self {
			continue
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(wireMaxMsg)))
		if err != nil {
			return err
		}
		w.conns = append(w.conns, conn)
		st, err := conn.NewStream(context.Background(), &wireService.Streams[0], "/meshbench.Wire/Echo")
		if err != nil {
			return err
		}
		l := &wireLink{st: st, wake: make(chan struct{}, 1), replies: w.replies, node: w}
		go l.write()
		go l.read()
		w.links[i] = l
	}
	return nil
}

func (w *wireNode) activate(kind, id string, idx int, payload proto.Message) error {
	return w.call(kind, id, idx, payload)
}

func (w *wireNode) call(_, _ string, idx int, payload proto.Message) error {
	if len(w.peers) == 0 || w.place[idx] == w.self {
		return nil
	}
	b, ok := payload.(*wrapperspb.BytesValue)
	if !ok {
		return fmt.Errorf("wire: payload %T", payload)
	}
	t := callTimers.Get().(*time.Timer)
	t.Reset(callTimeout)
	defer func() {
		t.Stop()
		callTimers.Put(t)
	}()
	wt, _ := w.replies.expect()
	w.links[w.place[idx]].send(wt.id, b.Value)
	select {
	case r := <-wt.ch:
		wt.release(true)
		if _, ok := r.([]byte); !ok {
			return fmt.Errorf("wire: answer %T", r)
		}
		return nil
	case <-t.C:
		wt.release(false)
		return errors.New("wire: call timed out")
	}
}

func (w *wireNode) where(context.Context, string, string) (string, error) { return "", errNoPlacement }

func (w *wireNode) shards(string) ([]string, error) { return nil, errNoPlacement }

func (w *wireNode) activations() int { return 0 }

func (w *wireNode) close(bool) {
	w.mu.Lock()
	for _, c := range w.conns {
		c.Close()
	}
	w.mu.Unlock()
	w.srv.Stop()
}

// wireLink is the caller's stream to one other node.
type wireLink struct {
	node    *wireNode
	st      grpc.ClientStream
	replies *replyProcess
	wake    chan struct{}

	mu    sync.Mutex // guards queue
	queue []wireCall
}

type wireCall struct {
	id      uint32
	payload []byte
}

func (l *wireLink) send(id uint32, payload []byte) {
	l.mu.Lock()
	l.queue = append(l.queue, wireCall{id, payload})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// take removes the calls of the next frame from the queue.
func (l *wireLink) take() []wireCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, size := 0, 0
	for n < len(l.queue) && (n == 0 || size+len(l.queue[n].payload) <= wireMaxFrame) {
		size += len(l.queue[n].payload)
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]wireCall, n)
	copy(out, l.queue)
	l.queue = append(l.queue[:0], l.queue[n:]...)
	return out
}

func (l *wireLink) write() {
	busy := false
	for {
		if busy {
			runtime.Gosched()
		}
		calls := l.take()
		if calls == nil {
			busy = false
			<-l.wake
			continue
		}
		size := 0
		for _, c := range calls {
			size += wireHeader + len(c.payload)
		}
		f := make([]byte, 0, size) // gRPC may hold it after SendMsg returns
		for _, c := range calls {
			f = appendCall(f, c.id, c.payload)
		}
		if err := l.st.SendMsg(&f); err != nil {
			return
		}
		l.node.frames.Add(1)
		l.node.calls.Add(int64(len(calls)))
		busy = true
	}
}

func (l *wireLink) read() {
	var f []byte
	for {
		if err := l.st.RecvMsg(&f); err != nil {
			return
		}
		_ = eachCall(f, func(id uint32, payload []byte) {
			l.replies.deliver(id, append([]byte(nil), payload...))
		})
	}
}
