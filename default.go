package mesh

import (
	"context"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
)

// defaultNode is the node the package-level functions act on: the first
// node Start made in this process, or the one given to SetDefault.
var defaultNode atomic.Pointer[Node]

// SetDefault makes n the node the package-level functions act on; nil
// clears it.
func SetDefault(n *Node) { defaultNode.Store(n) }

// Default returns the default node, or nil if there is none.
func Default() *Node { return defaultNode.Load() }

// Call calls req through the default node; see Node.Call.
func Call(ctx context.Context, req Request) (proto.Message, error) {
	n := defaultNode.Load()
	if n == nil {
		return nil, ErrNoDefaultNode
	}
	return n.Call(ctx, req)
}

// Cast casts req through the default node; see Node.Cast.
func Cast(ctx context.Context, req Request) error {
	n := defaultNode.Load()
	if n == nil {
		return ErrNoDefaultNode
	}
	return n.Cast(ctx, req)
}

// RegisterCapabilities registers caps on the default node; see
// Node.RegisterCapabilities.
func RegisterCapabilities(caps ...Capability) error {
	n := defaultNode.Load()
	if n == nil {
		return ErrNoDefaultNode
	}
	return n.RegisterCapabilities(caps...)
}

// UnregisterCapabilities withdraws capabilities from the default node; see
// Node.UnregisterCapabilities.
func UnregisterCapabilities(names ...string) error {
	n := defaultNode.Load()
	if n == nil {
		return ErrNoDefaultNode
	}
	return n.UnregisterCapabilities(names...)
}
