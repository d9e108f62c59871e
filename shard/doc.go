// Package shard places IDs on nodes: an ID hashes to one of a fixed number of
// shards, and one bounded-load consistent-hash ring per capability assigns
// every shard to one of the nodes that offer the capability and carry the
// labels it requires (Eligible; Explain says why a member is not on a
// ring).
//
// The package is pure: no I/O, no goroutines, no clock. A Table is an
// immutable value built from a member list; two nodes that see the same
// members build identical tables, which is what lets every node name the
// same owner for an ID without asking anyone.
//
// # Usage
//
//	t := shard.Build(4096, members, nil)
//	s := shard.Of("user-42", t.Shards())
//	owner, ok := t.Ring("chat").Owner(s), t.Ring("chat") != nil
//
// # Concurrency
//
// A Table and its Rings are never modified after Build returns, so any
// number of goroutines may read them at once. Publish new tables through an
// atomic pointer.
package shard
