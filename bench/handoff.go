package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	mesh "github.com/meshrun/mesh"
)

// counterKind is R1's capability on mesh: a process holding state that
// mesh hands off live (no store) when its shard moves.
const counterKind = "counter"

// The queries of a counter besides whereQuery (which does not count): bump
// counts one and answers the node's name; stateQuery answers "NODE COUNT".
const (
	bumpQuery  = "?bump"
	stateQuery = "?state"
)

// counter counts the messages it is sent, whereQuery excepted, echoing
// payloads, and gives its count to mesh's handoff when its shard moves.
// With saves, it says every counted message changed its state: the echo
// process of the contenders that save on change, where every echoed
// message costs one write of its state to the store before the reply.
type counter struct {
	node  string
	count uint64
	saves bool
}

func (c *counter) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	if s, ok := msg.(*wrapperspb.StringValue); ok {
		switch s.Value {
		case whereQuery:
			return wrapperspb.String(c.node), nil
		case stateQuery:
			return wrapperspb.String(c.node + " " + strconv.FormatUint(c.count, 10)), nil
		case bumpQuery:
			c.bump(ctx)
			return wrapperspb.String(c.node), nil
		}
	}
	c.bump(ctx)
	return msg, nil
}

// bump counts one message, saying so when the counter saves.
func (c *counter) bump(ctx mesh.Context) {
	c.count++
	if c.saves {
		ctx.Changed()
	}
}

func (c *counter) Snapshot() (proto.Message, uint32, error) {
	return wrapperspb.UInt64(c.count), 1, nil
}

func (c *counter) Restore(state proto.Message, format uint32) error {
	v, ok := state.(*wrapperspb.UInt64Value)
	if !ok || format != 1 {
		return fmt.Errorf("counter: state %T, format %d", state, format)
	}
	c.count = v.GetValue()
	return nil
}

// peerCounter is counter as a grain of the peer, which has no handoff:
// a grain that moves starts over on its new owner.
type peerCounter struct {
	counter
	live *atomic.Int64
}

func (c *peerCounter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *wrapperspb.StringValue:
		r, _ := c.Handle(nil, m)
		ctx.Respond(r)
	case *actor.Started:
		c.live.Add(1)
	case *actor.Stopped:
		c.live.Add(-1)
	}
}

// parseState splits a counter's answer to stateQuery.
func parseState(s string) (node string, count uint64, err error) {
	node, num, ok := strings.Cut(s, " ")
	if !ok {
		return "", 0, fmt.Errorf("counter state %q", s)
	}
	count, err = strconv.ParseUint(num, 10, 64)
	return node, count, err
}

// handoffStats are the states a node handed off since it was last asked,
// and the longest of those handoffs.
type handoffStats struct {
	States int64   `json:"states"`
	Took   float64 `json:"took_s"`
}

// handoffLog catches the node's "handed off process states" lines (the
// old owner's count of the states its new owners acknowledged, and the
// time from the placement change to the last acknowledgement) into sink
// and passes every record on to next, if any.
type handoffLog struct {
	sink *handoffSink
	next slog.Handler
}

// handoffSink gathers the handoffs of every handler derived from one
// handoffLog.
type handoffSink struct {
	mu  sync.Mutex
	got handoffStats
}

func (h *handoffLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *handoffLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "handed off process states" {
		h.sink.mu.Lock()
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "states":
				h.sink.got.States += a.Value.Int64()
			case "took":
				h.sink.got.Took = max(h.sink.got.Took, a.Value.Duration().Seconds())
			}
			return true
		})
		h.sink.mu.Unlock()
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *handoffLog) WithAttrs(as []slog.Attr) slog.Handler {
	if h.next == nil {
		return h
	}
	return &handoffLog{h.sink, h.next.WithAttrs(as)}
}

func (h *handoffLog) WithGroup(g string) slog.Handler {
	if h.next == nil {
		return h
	}
	return &handoffLog{h.sink, h.next.WithGroup(g)}
}

// take returns the stats gathered since the last take and resets them.
func (s *handoffSink) take() handoffStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = handoffStats{}
	return got
}
