// Package faults lets meshtest inject network faults into a node without
// making them fields of mesh.Config that a program could set in
// production: the root package registers the function at init, and
// meshtest calls it on the Config it starts a node with.
//
// # Usage
//
//	faults.Cut(&cfg, gossip, transport) // cfg is a mesh.Config
//
// # Concurrency
//
// Register is called once, from the root package's init, before any
// goroutine can call Cut; Cut is safe to call from any goroutine, on a
// Config no other goroutine uses.
package faults

// cut is set once by the root package's init and never changed after.
var cut func(cfg any, gossip, transport func(addr string) bool)

// Register sets the function Cut calls. Only the root package calls it,
// from its init.
func Register(f func(cfg any, gossip, transport func(addr string) bool)) { cut = f }

// Cut makes the node that cfg, a *mesh.Config, starts cut off from the
// addresses gossip reports among the gossip addresses of its peers, and
// from those transport reports among the addresses its node-to-node
// transport dials: packets and messages to them are dropped, as a cut
// network loses them. Either may be nil. Both are called on the node's
// own goroutines, often: they must be quick and safe for concurrent use.
func Cut(cfg any, gossip, transport func(addr string) bool) { cut(cfg, gossip, transport) }
