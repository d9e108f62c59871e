package mesh

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
)

// repliesName is the protoactor ID of every node's reply process.
const repliesName = "mesh-replies"

// replyShards is the number of locks pending remote calls spread over.
const replyShards = 64

// replies receives the answers to this node's remote calls. Each call is
// sent in the name of one PID, the reply process's, carrying the call's
// number in its RequestId; protoactor keeps that number on the reply, and
// on the dead-letter response when the target is gone, so one process
// registered once serves every call. It replaces a process registered and
// removed per call, which was the largest cost of a remote call.
type replies struct {
	address string
	// incarnation is the node's: a Reply that echoes another one was meant
	// for an earlier run of this node and is dropped.
	incarnation uint64
	next        atomic.Uint32
	shards      [replyShards]struct {
		mu      sync.Mutex // guards pending
		pending map[uint32]chan any
	}
}

// newReplies returns the reply process of the node at address in
// incarnation. Request numbers start at random, so that answers still on
// their way to an earlier run of the node are unlikely to find a call
// waiting under their number; Replies are also checked by incarnation.
func newReplies(address string, incarnation uint64) *replies {
	r := &replies{address: address, incarnation: incarnation}
	r.next.Store(rand.Uint32())
	return r
}

// channels holds reply channels. One goes back only after its call is
// released, under the lock that deliveries take, so no late answer can
// reach the call that takes it next.
var channels = sync.Pool{New: func() any { return make(chan any, 1) }}

// pending is one remote call waiting for its answer.
type pending struct {
	r  *replies
	id uint32
	ch chan any
}

// expect registers a call and returns the sender to put on its request.
func (r *replies) expect() (pending, *pa.PID) {
	sender := &pa.PID{}
	return r.expectAs(sender), sender
}

// expectAs is expect writing the sender into the caller's sender, which
// may then live on the caller's stack: the transport copies a sender's
// fields and keeps no pointer to it, where protoactor's own sends do.
func (r *replies) expectAs(sender *pa.PID) pending {
	id := r.next.Add(1)
	if id == 0 { // 0 means "no request id" to protoactor
		id = r.next.Add(1)
	}
	p := pending{r: r, id: id, ch: channels.Get().(chan any)}
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	if s.pending == nil {
		s.pending = make(map[uint32]chan any)
	}
	s.pending[id] = p.ch
	s.mu.Unlock()
	sender.Address, sender.Id, sender.RequestId = r.address, repliesName, id
	return p
}

// release forgets the call; answered reports whether its answer was
// received, in which case its channel is empty and can be reused.
func (p pending) release(answered bool) {
	s := &p.r.shards[p.id%replyShards]
	s.mu.Lock()
	delete(s.pending, p.id)
	s.mu.Unlock()
	if answered {
		channels.Put(p.ch)
	}
}

// ask sends msg to pid in the name of the reply process and returns the
// answer, or ctx's error when it ends first.
func (n *Node) ask(ctx context.Context, pid *pa.PID, msg any) (any, error) {
	p, sender := n.replies.expect()
	n.system.Root.RequestWithCustomSender(pid, msg, sender)
	select {
	case m := <-p.ch:
		p.release(true)
		return m, nil
	case <-ctx.Done():
		p.release(false)
		return nil, ctx.Err()
	}
}

// SendUserMessage implements protoactor's Process: it hands an answer to
// the call its RequestId names, if that call still waits.
func (r *replies) SendUserMessage(pid *pa.PID, message any) {
	_, msg, _ := pa.UnwrapEnvelope(message)
	if rep, ok := msg.(*wire.Reply); ok && rep.CallerIncarnation != 0 && rep.CallerIncarnation != r.incarnation {
		// Meant for a call of an earlier run of this node (0: the sender
		// could not tell, as for a message that was no envelope).
		return
	}
	s := &r.shards[pid.RequestId%replyShards]
	s.mu.Lock()
	if ch, ok := s.pending[pid.RequestId]; ok {
		select {
		case ch <- msg:
		default:
		}
	}
	s.mu.Unlock()
}

// SendSystemMessage implements protoactor's Process; replies ignores them.
func (r *replies) SendSystemMessage(*pa.PID, any) {}

// Stop implements protoactor's Process; replies lives as long as its node.
func (r *replies) Stop(*pa.PID) {}
