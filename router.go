package mesh

import (
	"fmt"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
)

// maxCastHops bounds how often routers forward a cast whose sender's view
// was stale, so that two nodes with different views cannot bounce it
// forever.
const maxCastHops = 2

// router receives every envelope addressed to this node rather than to a
// known activation. It is a protoactor Process, not an actor: it runs on the
// goroutine that received the message, takes no lock, and hands the
// envelope to the activation with the original sender, so the reply goes
// straight back to the caller.
type router struct{ n *Node }

func (r *router) SendUserMessage(_ *pa.PID, message any) {
	_, msg, sender := pa.UnwrapEnvelope(message)
	n := r.n
	if p, ok := msg.(*wire.Ping); ok {
		if sender != nil {
			n.system.Root.Send(sender, n.pong(p))
		}
		return
	}
	if h, ok := msg.(*wire.Handoff); ok {
		ack := n.receiveHandoff(h)
		if sender != nil {
			n.system.Root.Send(sender, ack)
		}
		return
	}
	if b, ok := msg.(*wire.Broadcast); ok {
		ack := n.receiveBroadcast(b)
		if sender != nil {
			n.system.Root.Send(sender, ack)
		}
		return
	}
	env, ok := msg.(*wire.Envelope)
	if !ok {
		n.logger.Warn("router: unexpected message", "type", fmt.Sprintf("%T", msg), "sender", sender)
		r.respond(sender, &wire.Reply{Failure: &wire.Failure{
			Code: wire.Code_CODE_BAD_PAYLOAD, Message: fmt.Sprintf("unexpected message type %T", msg)}})
		return
	}
	req := Request{Capability: env.Capability, ID: env.Id}
	if err := req.validateTarget(); err != nil {
		n.logger.Warn("router: invalid envelope", "sender", sender, "err", err)
		r.fail(env, sender, wire.Code_CODE_INVALID_REQUEST, err.Error())
		return
	}
	if s := shard.Of(env.Id, n.cfg.Shards); s != env.Shard {
		n.logger.Warn("router: shard mismatch; are shard counts equal on every node?", "sender", sender,
			"capability", env.Capability, "id", env.Id, "sender_shard", env.Shard, "shard", s)
		r.fail(env, sender, wire.Code_CODE_INVALID_REQUEST,
			fmt.Sprintf("shard %d for %q, this node computes %d: shard counts differ", env.Shard, env.Id, s))
		return
	}
	if env.Deadline != 0 && time.Now().UnixNano() >= env.Deadline {
		// Its caller has given up: activating a process for it would
		// only cost memory. The answer tells a caller whose clock is
		// behind ours why, rather than leaving it to wait.
		r.fail(env, sender, wire.Code_CODE_DEADLINE, "the deadline had passed when the owner received the call")
		return
	}
	// One snapshot for the whole message: a second load could lack the
	// owner the first one named.
	rt := n.routes.Load()
	owner, version := rt.owner(env.Capability, env.Shard)
	if owner != n.name || n.closing.Load() {
		n.stray()
		if env.Cast {
			if to := rt.routers[owner]; to != nil && owner != n.name && env.Hops < maxCastHops {
				env.Hops++
				env.Incarnation = 0 // to the router, by name
				n.system.Root.Send(to, env)
			}
			return
		}
		r.reply(env, sender, &wire.Reply{Redirect: &wire.Redirect{Owner: owner, RingVersion: version}})
		return
	}
	if err := n.serving(); err != nil {
		r.fail(env, sender, wire.Code_CODE_NO_QUORUM, err.Error())
		return
	}
	pid, err := n.table.Ensure(env.Capability, env.Id, env.Shard)
	if err != nil {
		r.reply(env, sender, &wire.Reply{Redirect: &wire.Redirect{RingVersion: version}})
		return
	}
	// The router found the activation by (capability, ID) in this
	// incarnation: whatever the sender believed of this node, the
	// envelope is now addressed to this life of it.
	env.Incarnation = n.incarnation
	if env.Cast {
		n.system.Root.Send(pid, env)
		return
	}
	n.system.Root.RequestWithCustomSender(pid, env, sender)
}

func (r *router) fail(env *wire.Envelope, sender *pa.PID, code wire.Code, msg string) {
	if !env.Cast {
		r.reply(env, sender, &wire.Reply{Failure: &wire.Failure{Code: code, Message: msg}})
	}
}

// reply answers env with rep, stamped like an activation's reply.
func (r *router) reply(env *wire.Envelope, to *pa.PID, rep *wire.Reply) {
	rep.Incarnation, rep.CallerIncarnation = r.n.incarnation, env.CallerIncarnation
	r.respond(to, rep)
}

func (r *router) respond(to *pa.PID, rep *wire.Reply) {
	if to != nil {
		r.n.system.Root.Send(to, rep)
	}
}

func (r *router) SendSystemMessage(*pa.PID, any) {}
func (r *router) Stop(*pa.PID)                   {}
