// Package store keeps the state of processes by (capability, ID), so that a
// process survives its passivation, a handoff that failed, and the crash of
// its node. It defines the Store contract, the in-memory Store, and (in
// storetest) the conformance suite that every Store passes.
//
// The package is a leaf: it imports only the standard library, so a store
// implementation depends on nothing of mesh but this package.
//
// # Versions
//
// Every key has a version, a counter of its writes: 0 before the first,
// 1 after it, one more after each Save and each Delete that removes a
// record. A write names the version it expects to create: Save offers
// stored + 1, Delete offers the version it means to delete. A store
// refuses a write whose version does not match, changes nothing, and
// returns a *StaleError that says which version is stored and which was
// offered.
//
// # Fencing
//
// Versions are how a store fences a stale activation, as ETags do for
// Orleans grain state. An activation loads its key and remembers the
// version; each of its saves offers the next one. If another activation of
// the same key has written since (an activation on another node while views
// of the cluster disagree, or a new activation after this one was thought
// dead), the stored version has moved on and every later write of the old
// activation is refused. Of two activations that both loaded version v, the
// first to save v+1 wins, and the other learns it is stale on its next
// write. A new activation that must shut its predecessor out at once, before
// it has anything new to save, saves the state it loaded as the next version.
//
// # Deletion
//
// A Delete is a write: it removes the record and moves the key's version
// one past the version deleted, and the store remembers that version with
// no data. Load of a deleted key returns ErrNotFound together with the
// version, so a new activation starts fresh and its first Save offers the
// version after it. Versions never restart at 1: if they did, an
// activation that loaded version N before the key was deleted could save
// N+1 over the deletion (or 1, if it loaded nothing), bringing back the
// state it held. Because the deletion itself takes a version, no writer
// that saw the deleted record or any earlier one can ever write again. The
// cost is one small entry per key ever deleted.
//
// # Errors
//
// What each error means, and what a caller such as the runtime does about
// it:
//
//   - ErrNotFound (Load): there is no state; the process starts fresh and its
//     first Save offers the returned Record's Version + 1.
//   - ErrStale (Save, Delete): another activation has written the key; this
//     one is stale. It must stop without writing again, and the next message
//     activates the process from the store. Retrying with StaleError.Stored+1
//     would overwrite the newer state and defeat the fence.
//   - ErrTooLarge (Save): the snapshot is over MaxDataLen or its type name
//     over MaxTypeLen; nothing was written, so the state exists only in
//     the activation, which must not be dropped as if it were saved.
//   - ErrInvalidKey: the key is not one mesh would route; a bug of the
//     caller, since mesh validates requests before they reach a process.
//   - ErrCorrupt (Load): the stored bytes cannot be read back; the
//     activation must fail rather than start fresh over data an operator
//     may recover.
//   - ErrClosed: the store is closed; nothing was done.
//   - ErrUnavailable: the store's server cannot be reached or the
//     connection failed during the call. A Load returned nothing: the
//     message fails, and the process must not start fresh. A write may or
//     may not have been done: reload to learn which, as for a context that
//     ended mid-write. A store that reconnects by itself (store/postgres)
//     serves again once the server is back.
//   - An error wrapping ctx.Err(): the call's context ended. If it had ended
//     before the call, nothing changed. If it ended during a write, the
//     write may or may not have happened: reload to learn which (the
//     stored Version and Data show whether it was this write).
//
// # Usage
//
//	s := store.NewMemory()
//	k := store.Key{Capability: "counter", ID: "user-42"}
//	rec, err := s.Load(ctx, k) // ErrNotFound: rec.Version is 0
//	err = s.Save(ctx, k, store.Record{Version: rec.Version + 1, Type: "counter.v1.State", Data: b})
//
// # Concurrency
//
// Every Store, Memory included, is safe for concurrent use, and the
// operations on one key are linearizable. Memory copies Data in and out,
// and holds one lock for a map access per operation.
//
// # Implementing a store
//
// A Store in another module passes storetest.Run. It validates keys and
// records with Key.Validate and Record.Validate, keeps keys apart by both
// fields exactly (a database whose text type refuses NUL, or compares with
// case folding or trailing-space padding, keeps IDs as bytes), and reports
// a refused write as a *StaleError.
package store
