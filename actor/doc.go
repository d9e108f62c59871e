// Package actor hosts processes: the per-node activation table, the
// caller-side PID cache, and the contract a user's process implements.
//
// A Process handles the messages of one (capability, ID). The Table makes
// at most one activation per (capability, ID) on a node, spawning it as a
// protoactor actor on the first message even when thousands of first calls
// race, and stops activations whose shards move away. The Cache remembers
// where remote activations live so warm calls skip the owner's router.
//
// # Usage
//
//	t := actor.NewTable(system, actor.TableConfig{Self: "node-1", Factory: f, Owner: owner})
//	pid, err := t.Ensure("counter", "user-42", shard)
//	system.Root.Send(pid, &actor.Request{Payload: msg, Cast: true})
//
// # Concurrency
//
// Table and Cache are safe for concurrent use; lookups take one
// read lock out of 1024 stripes, chosen by shard. A Process's Handle and Stop
// run on its activation's goroutine, never concurrently with each other.
package actor
