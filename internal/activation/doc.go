// Package activation hosts processes on a node: the activation table, the
// caller-side PID cache, and the protoactor actor that runs one user
// Process.
//
// The Table makes at most one activation per (capability, ID) on a node,
// spawning it as a protoactor actor on the first message even when
// thousands of first calls race, and stops activations whose shards move
// away; a stop is a step that finishes (Stopping). The Cache remembers
// where remote activations live so warm calls skip the owner's router.
//
// # Usage
//
//	t := activation.NewTable(system, activation.TableConfig{Self: "node-1", Factory: f, Owner: owner})
//	pid, err := t.Ensure("counter", "user-42", shard)
//	system.Root.Send(pid, &activation.Request{Payload: msg, Cast: true})
//
// # Concurrency
//
// Table and Cache are safe for concurrent use; lookups take one read lock
// out of 1024 stripes, chosen by shard. A Process's Handle and Stop run on
// its activation's goroutine, never concurrently with each other.
package activation
