package transport

import "github.com/meshrun/mesh/internal/wire"

// Bounds of the protobuf encoding, per field: a tag of at most two bytes
// (field numbers below 2048) and a length of at most five (below 4 GiB); a
// scalar field takes at most eleven; a map entry is a message of two
// fields.
const (
	fieldRoom  = 7
	scalarRoom = 11
	entryRoom  = fieldRoom + 2*fieldRoom
)

// size returns a bound on the bytes m takes in a frame, never below the
// real size, without walking the message as proto.Size does (gRPC
// marshals the frame afterwards, and a second walk per message was a tenth
// of a round trip's CPU). It sizes the queue and fills frames up to
// MaxFrame; should it ever fall short, the frame limit has room for a whole
// message more.
func size(m *Message) int {
	n := fieldRoom + // the message in the frame
		4*fieldRoom + len(m.GetTarget()) + len(m.GetSenderAddress()) + len(m.GetSenderId()) +
		2*scalarRoom // request numbers
	switch b := m.GetBody().(type) {
	case *Message_Envelope:
		n += fieldRoom + envelopeSize(b.Envelope)
	case *Message_Reply:
		n += fieldRoom + replySize(b.Reply)
	case *Message_Ping:
		n += fieldRoom + scalarRoom
	case *Message_Pong:
		p := b.Pong
		n += fieldRoom + 2*fieldRoom + len(p.GetNode()) + len(p.GetAdminAddr()) + 5*scalarRoom
	case *Message_DeadLetter:
		n += fieldRoom + len(b.DeadLetter)
	case *Message_Handoff:
		n += fieldRoom + handoffSize(b.Handoff)
	case *Message_Broadcast:
		n += fieldRoom + broadcastSize(b.Broadcast)
	case *Message_BroadcastAck:
		f := b.BroadcastAck.GetFailure()
		n += fieldRoom + scalarRoom + 3*fieldRoom + scalarRoom + len(f.GetMessage())
	case *Message_HandoffAck:
		n += fieldRoom + 2*scalarRoom
		for _, id := range b.HandoffAck.GetRefusedIds() {
			n += fieldRoom + len(id)
		}
	}
	return n
}

func broadcastSize(b *wire.Broadcast) int {
	n := 3*fieldRoom + len(b.GetCapability()) + len(b.GetPayload()) + len(b.GetPayloadType()) + scalarRoom
	for k, v := range b.GetTrace() {
		n += entryRoom + len(k) + len(v)
	}
	return n
}

func handoffSize(h *wire.Handoff) int {
	n := 3*fieldRoom + len(h.GetFrom()) + len(h.GetCapability()) + scalarRoom + // done
		fieldRoom + len(h.GetShards())*scalarRoom
	for _, s := range h.GetStates() {
		n += fieldRoom + 3*fieldRoom + len(s.GetId()) + len(s.GetType()) + len(s.GetData()) + 3*scalarRoom
	}
	return n
}

func envelopeSize(e *wire.Envelope) int {
	n := 4*fieldRoom + len(e.GetCapability()) + len(e.GetId()) + len(e.GetPayload()) + len(e.GetPayloadType()) +
		9*scalarRoom // shard, ring version, deadline, cast, hops, want pid, two incarnations, spare
	for k, v := range e.GetTrace() {
		n += entryRoom + len(k) + len(v)
	}
	return n
}

func replySize(r *wire.Reply) int {
	n := 5*fieldRoom + len(r.GetPayload()) + len(r.GetPayloadType()) + len(r.GetPidAddress()) + len(r.GetPidId()) +
		3*scalarRoom // two incarnations, spare
	if f := r.GetFailure(); f != nil {
		n += 2*fieldRoom + scalarRoom + len(f.GetMessage())
	}
	if d := r.GetRedirect(); d != nil {
		n += 2*fieldRoom + scalarRoom + len(d.GetOwner())
	}
	return n
}
