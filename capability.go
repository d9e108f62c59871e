package mesh

import (
	"fmt"
	"time"

	"github.com/meshrun/mesh/actor"
	"google.golang.org/protobuf/proto"
)

// Process is the behaviour and state of one virtual actor. See
// actor.Process for its contract: Handle is never called concurrently.
type Process = actor.Process

// Context describes the message a Process is handling: its capability, ID,
// deadline and whether it is a Cast.
type Context = actor.Context

// StopReason says why an activation stopped; see actor.Stopper.
type StopReason = actor.StopReason

// Activation describes one process active on a node.
type Activation struct {
	Capability string
	ID         string
	// Shard is the shard the ID hashes to.
	Shard uint32
	// PID names the activation's actor, for logs and the admin endpoint.
	PID string
	// Since is when the activation was made, LastUsed when it last began
	// to handle a message.
	Since    time.Time
	LastUsed time.Time
	// Origin is where the process's state came from: "handoff" (its
	// previous owner handed it off), "store" (Config.Store), or "" (it
	// started empty).
	Origin string
}

// Capability is a kind of process a node can host.
type Capability struct {
	// Name identifies the capability cluster-wide: 1 to 64 bytes of
	// [A-Za-z0-9._-].
	Name string
	// New makes the process for id. It runs on the new activation's
	// goroutine when its first message arrives.
	New func(id string) Process

	// IdleTimeout passivates a process that has not begun to handle a
	// message for that long: it stops (saving its state to Config.Store,
	// if any, when it implements actor.Snapshotter) and is made again by
	// its next message. If zero, DefaultIdleTimeout; negative, never.
	IdleTimeout time.Duration
	// MaxActivations bounds the processes of the capability active on one
	// node: each new activation past it passivates, at once, the least
	// recently used of a sample of 8 others (close to the least recently
	// used of all). Zero bounds nothing.
	MaxActivations int

	// Requires, if not empty, are labels (Config.Labels) a node must carry
	// to own shards of the capability: its ring covers only the nodes that
	// offer it and carry every one of them. The requirement is gossiped
	// with the capability, so every node, whether it offers the
	// capability or not, routes a call to the same owner. Every node that
	// registers the capability must give the same requirement:
	// RegisterCapabilities refuses one that differs from a requirement in
	// sight with ErrConflictingRequirement, and should two nodes register
	// different ones at once, the one most nodes declared holds and the
	// others' nodes own nothing of it (Locate, and mesh owner, say so). A
	// node that lacks a required label may register the capability (the
	// same program can run everywhere) but owns none of its shards. When
	// no node may own them, calls fail at once with ErrNoOwner naming the
	// unmet labels. Keys and values follow capability.ValidateLabel.
	Requires map[string]string
	// SplitBy, if set, names a label that splits the capability into one
	// ring per value of the label: a node labelled region=eu registering
	// "game" split by "region" offers Scope("game", "eu") ("game@eu"),
	// which requires region=eu, and callers address a process of region
	// eu as Request{Capability: Scope("game", "eu"), ID: ...}. The value
	// is part of the process's name, so a process lives in one scope
	// only, whoever calls it. The node must carry the label.
	SplitBy string
	// Save says when a process that implements actor.Snapshotter saves its
	// state to Config.Store: SaveOnStop (the zero value) or SaveOnChange.
	Save SaveMode
}

// SaveMode says when the processes of a capability save their state to
// the node's store. In every mode a process saves when it passivates,
// when its node closes with no other node to take it, and when its
// handoff fails; a process restarted anywhere loads its last save before
// its first message.
type SaveMode int

const (
	// SaveOnStop saves only when the process stops: what a crash of its
	// node (kill -9, power loss) loses is everything since its last
	// passivation or move.
	SaveOnStop SaveMode = iota
	// SaveOnChange also saves after every message the process says
	// changed its state (actor.Context.Changed), before the reply leaves:
	// a crash loses nothing that was acknowledged. The state is saved
	// whatever the message's outcome, also when Handle returned an error
	// or its reply is too large to send. A save that fails fails its
	// message with ErrStore (a Cast's is logged and counted), and the
	// process is made again from what the store holds on its next
	// message. Like a Call that timed out, such a change may or may not
	// be stored (a store that lost its server mid-write cannot tell), so
	// a caller that sends it again may apply it twice. Needs Config.Store.
	// Each such message waits for one write to the store.
	SaveOnChange
)

func (m SaveMode) String() string {
	switch m {
	case SaveOnStop:
		return "on-stop"
	case SaveOnChange:
		return "on-change"
	}
	return fmt.Sprintf("SaveMode(%d)", int(m))
}

// DefaultIdleTimeout is the idle timeout of a capability that sets none:
// 15 minutes. Akka Cluster Sharding passivates after 2 minutes idle, Dapr
// actors after 60, Orleans grains after 2 hours; a quarter of an hour
// keeps a session's process across a pause while a node's memory follows
// its working set within minutes rather than hours.
const DefaultIdleTimeout = 15 * time.Minute

// ProcessFunc adapts a function to a Process with no state of its own.
type ProcessFunc func(ctx Context, msg proto.Message) (proto.Message, error)

// Handle calls f.
func (f ProcessFunc) Handle(ctx Context, msg proto.Message) (proto.Message, error) {
	return f(ctx, msg)
}
