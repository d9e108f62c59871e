package transport

import (
	"sync"
	"testing"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
)

// echoer answers every envelope it receives with a reply to its sender.
type echoer struct{ system *pa.ActorSystem }

func (e echoer) SendUserMessage(_ *pa.PID, message any) {
	_, _, sender := pa.UnwrapEnvelope(message)
	e.system.Root.Send(sender, &wire.Reply{Payload: []byte("pong"), PayloadType: "t"})
}
func (echoer) SendSystemMessage(*pa.PID, any) {}
func (echoer) Stop(*pa.PID)                   {}

// BenchmarkRoundTrip sends envelopes from 256 goroutines to an echoing
// process on another transport in this process and waits for each reply:
// the transport's share of a cross-node call, without mesh's routing.
func BenchmarkRoundTrip(b *testing.B) {
	t := &testing.T{}
	a, c := newNode(t, "127.0.0.1:0", Options{}), newNode(t, "127.0.0.1:0", Options{})
	defer func() {
		_ = a.t.Close(b.Context())
		_ = c.t.Close(b.Context())
	}()
	a.t.SetMembers(at(c.t.Addr()))
	c.t.SetMembers(at(a.t.Addr()))
	c.system.ProcessRegistry.Add(echoer{c.system}, "echo")
	// Replies come back to one inbox per request number.
	var mu sync.Mutex
	waiting := map[uint32]chan struct{}{}
	a.system.ProcessRegistry.Add(replyInbox{&mu, waiting}, "replies")
	target := c.pid("echo")
	env := &wire.Envelope{Capability: "echo", Id: "x", Payload: make([]byte, 16), PayloadType: "t"}
	var next uint32
	b.ReportAllocs()
	b.SetParallelism(128)
	frames0, messages0 := a.t.Sent()
	defer func() {
		frames, messages := a.t.Sent()
		b.ReportMetric(float64(messages-messages0)/float64(frames-frames0), "msgs/frame")
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ch := make(chan struct{}, 1)
		for pb.Next() {
			mu.Lock()
			next++
			id := next
			waiting[id] = ch
			mu.Unlock()
			if err := a.t.Send(target, env, &pa.PID{Address: a.t.Addr(), Id: "replies", RequestId: id}); err != nil {
				b.Error(err)
				return
			}
			<-ch
		}
	})
}

type replyInbox struct {
	mu      *sync.Mutex
	waiting map[uint32]chan struct{}
}

func (r replyInbox) SendUserMessage(pid *pa.PID, _ any) {
	r.mu.Lock()
	ch := r.waiting[pid.RequestId]
	delete(r.waiting, pid.RequestId)
	r.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
}
func (replyInbox) SendSystemMessage(*pa.PID, any) {}
func (replyInbox) Stop(*pa.PID)                   {}
