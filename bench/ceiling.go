package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Two contenders run raw protoactor-go actors with no routing: the caller
// knows every PID (it spawned the actor, locally or with a remote spawn).
//
// The fair ceiling (fair set) is mesh's own machinery without mesh: the
// actors run on a dispatcher like mesh's (keptDispatcher), a local call is
// a message carrying a pooled reply channel, bounded by a pooled timer, and
// a remote call goes out in the name of one reply process per node, with
// the call's number in the sender PID's RequestId, as mesh's calls do.
// mesh, which adds routing to this, may approach it; if mesh passes it by
// more than noise, the ceiling is wrong.
//
// protoactor with RequestFuture (fair unset) is what a protoactor user
// gets: the default dispatcher, and RequestFuture, which registers a
// future process and starts a timer per call.
//
// Across nodes ID idx lives on node place[idx], the node mesh's ring gives
// it (see runner.placement), so that every contender serves the same IDs on
// the calling node.
type ceilingNode struct {
	fair    bool
	name    string
	system  *actor.ActorSystem
	remote  *remote.Remote
	props   map[string]*actor.Props
	replies *replyProcess // fair only
	peers   []string
	place   []int
	self    int
	pids    []*actor.PID // by ID index; each index written by one caller
}

// localCall is a fair-ceiling call inside one node: the echo actor answers
// on reply.
type localCall struct {
	payload proto.Message
	reply   chan proto.Message
}

var replyChans = sync.Pool{New: func() any { return make(chan proto.Message, 1) }}

var callTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// echoActor is the actor of every protoactor-based contender.
func echoActor(node string, live *atomic.Int64) actor.ReceiveFunc {
	return func(c actor.Context) {
		switch m := c.Message().(type) {
		case *localCall:
			m.reply <- echoReply(node, m.payload)
		case *wrapperspb.BytesValue:
			c.Respond(echoReply(node, m))
		case *wrapperspb.StringValue:
			c.Respond(echoReply(node, m))
		case *actor.Started:
			if live != nil {
				live.Add(1)
			}
		case *actor.Stopped:
			if live != nil {
				live.Add(-1)
			}
		}
	}
}

// repliesID is the protoactor ID of the fair ceiling's reply process.
const repliesID = "ceiling-replies"

func (c *ceilingNode) start(a startArgs) (nodeInfo, error) {
	c.name = a.Name
	c.system = actor.NewActorSystem(actor.WithLoggerFactory(protoactorLogger))
	c.props = map[string]*actor.Props{}
	var opts []actor.PropsOption
	if c.fair {
		opts = append(opts, actor.WithDispatcher(newKeptDispatcher()))
	}
	var kinds []*remote.Kind
	for _, k := range a.Kinds {
		p := actor.PropsFromFunc(echoActor(a.Name, nil), opts...)
		c.props[k] = p
		kinds = append(kinds, remote.NewKind(k, p))
	}
	c.remote = remote.NewRemote(c.system, remote.Configure("127.0.0.1", 0, remoteOptions(kinds...)...))
	c.remote.Start()
	if c.fair {
		c.replies = newReplyProcess(c.system.Address())
		if _, ok := c.system.ProcessRegistry.Add(c.replies, repliesID); !ok {
			return nodeInfo{}, errors.New("ceiling: reply process already registered")
		}
	}
	return nodeInfo{Remote: c.system.Address()}, nil
}

func (c *ceilingNode) await(context.Context, awaitArgs) error { return nil }

func (c *ceilingNode) prepare(sp *spec) error {
	c.peers, c.self, c.place = sp.Peers, sp.Self, sp.Place
	if len(c.peers) > 0 && len(c.place) < sp.IDs {
		return fmt.Errorf("ceiling: placement of %d IDs for a run over %d", len(c.place), sp.IDs)
	}
	if len(c.pids) < sp.IDs {
		c.pids = append(c.pids, make([]*actor.PID, sp.IDs-len(c.pids))...)
	}
	return nil
}

func (c *ceilingNode) activate(kind, id string, idx int, payload proto.Message) error {
	target := c.self
	if len(c.peers) > 0 {
		target = c.place[idx]
	}
	var pid *actor.PID
	if target == c.self {
		props := c.props[kind]
		if props == nil {
			return fmt.Errorf("ceiling: kind %q not hosted here", kind)
		}
		p, err := c.system.Root.SpawnNamed(props, id)
		if err != nil && !errors.Is(err, actor.ErrNameExists) {
			return err
		}
		pid = p
	} else {
		resp, err := c.remote.SpawnNamed(c.peers[target], id, kind, callTimeout)
		if err != nil {
			return err
		}
		if resp.Pid == nil {
			return fmt.Errorf("ceiling: remote spawn of %s on %s: status %d", id, c.peers[target], resp.StatusCode)
		}
		pid = resp.Pid
	}
	c.pids[idx] = pid
	return c.request(pid, payload)
}

func (c *ceilingNode) call(_, id string, idx int, payload proto.Message) error {
	pid := c.pids[idx]
	if pid == nil {
		return fmt.Errorf("ceiling: %s was not activated", id)
	}
	return c.request(pid, payload)
}

var errCeilingTimeout = errors.New("ceiling: call timed out")

func (c *ceilingNode) request(pid *actor.PID, payload proto.Message) error {
	if !c.fair {
		r, err := c.system.Root.RequestFuture(pid, payload, callTimeout).Result()
		if err != nil {
			return err
		}
		if r == nil {
			return errors.New("ceiling: empty reply")
		}
		return nil
	}
	t := callTimers.Get().(*time.Timer)
	t.Reset(callTimeout)
	defer func() {
		t.Stop() // since Go 1.23 a stopped timer's channel holds nothing stale
		callTimers.Put(t)
	}()
	if pid.Address == c.system.Address() {
		ch := replyChans.Get().(chan proto.Message)
		c.system.Root.Send(pid, &localCall{payload: payload, reply: ch})
		select {
		case r := <-ch:
			replyChans.Put(ch)
			if r == nil {
				return errors.New("ceiling: empty reply")
			}
			return nil
		case <-t.C:
			return errCeilingTimeout
		}
	}
	w, sender := c.replies.expect()
	c.system.Root.RequestWithCustomSender(pid, payload, sender)
	select {
	case r := <-w.ch:
		w.release(true)
		if _, ok := r.(proto.Message); !ok {
			return fmt.Errorf("ceiling: reply %T", r)
		}
		return nil
	case <-t.C:
		w.release(false)
		return errCeilingTimeout
	}
}

func (c *ceilingNode) where(context.Context, string, string) (string, error) {
	return "", errNoPlacement
}

func (c *ceilingNode) shards(string) ([]string, error) { return nil, errNoPlacement }

func (c *ceilingNode) activations() int { return 0 }

func (c *ceilingNode) close(graceful bool) {
	c.remote.Shutdown(graceful)
	c.system.Shutdown()
}

// replyShards spreads the fair ceiling's waiting calls over locks.
const replyShards = 64

// replyProcess is the fair ceiling's one reply process per node: every
// remote call is sent in its name with the call's number as RequestId,
// which protoactor's remote keeps on the answer.
type replyProcess struct {
	address string
	next    atomic.Uint32
	shards  [replyShards]struct {
		mu      sync.Mutex // guards pending
		pending map[uint32]chan any
	}
}

func newReplyProcess(address string) *replyProcess { return &replyProcess{address: address} }

var anyChans = sync.Pool{New: func() any { return make(chan any, 1) }}

// waiting is one remote call waiting for its answer.
type waiting struct {
	r  *replyProcess
	id uint32
	ch chan any
}

func (r *replyProcess) expect() (waiting, *actor.PID) {
	id := r.next.Add(1)
	if id == 0 {
		id = r.next.Add(1)
	}
	w := waiting{r: r, id: id, ch: anyChans.Get().(chan any)}
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	if s.pending == nil {
		s.pending = map[uint32]chan any{}
	}
	s.pending[id] = w.ch
	s.mu.Unlock()
	return w, &actor.PID{Address: r.address, Id: repliesID, RequestId: id}
}

// release forgets the call; its channel is reused only if answered, so
// that no late answer reaches the next call that takes it.
func (w waiting) release(answered bool) {
	s := &w.r.shards[w.id%replyShards]
	s.mu.Lock()
	delete(s.pending, w.id)
	s.mu.Unlock()
	if answered {
		anyChans.Put(w.ch)
	}
}

// SendUserMessage implements actor.Process: it hands the answer to the
// call its RequestId names.
func (r *replyProcess) SendUserMessage(pid *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	r.deliver(pid.RequestId, msg)
}

// deliver hands msg to the call numbered id, if it still waits.
func (r *replyProcess) deliver(id uint32, msg any) {
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	if ch, ok := s.pending[id]; ok {
		select {
		case ch <- msg:
		default:
		}
	}
	s.mu.Unlock()
}

// SendSystemMessage implements actor.Process.
func (r *replyProcess) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (r *replyProcess) Stop(*actor.PID) {}
