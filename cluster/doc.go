// Package cluster is how mesh nodes find and talk to each other: memberlist
// gossip membership with each node's metadata (remote address,
// capabilities, labels, incarnation, draining flag) and a periodic re-join
// of seeds. What nodes send each other is in internal/wire.
//
// # Usage
//
//	m, err := cluster.Join(ctx, cluster.Config{
//		Name: "node-1", BindAddr: "127.0.0.1", Seeds: seeds,
//		OnChange: func(members []cluster.Member) { ... },
//	}, cluster.Meta{RemoteAddr: addr, Capabilities: []string{"counter"}})
//	err = m.SetMeta(newMeta, time.Second) // ErrMetaTooLarge past 512 bytes
//	defer m.Leave(time.Second)
//
// Metadata from the network is decoded defensively: bad input yields
// ErrBadMeta, never a panic.
//
// # Concurrency
//
// A Membership is safe for concurrent use. memberlist's event callbacks
// only copy the node and signal a goroutine, which debounces bursts and
// calls OnChange; OnChange is never called concurrently with itself.
package cluster
