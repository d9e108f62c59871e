// Package transport carries mesh's messages between nodes over gRPC
// streams, in place of protoactor-go's remote.
//
// A node opens one client stream to every member it sends to and writes
// frames on it: batches of messages bounded by bytes and by count, in the
// order they were sent (FIFO per ordered pair of nodes). The other
// direction travels on the peer's own stream. Only mesh's own message
// kinds travel (envelopes, replies, pings, pongs and dead letters); each
// names the protoactor ID of its target process and the PID its answers go
// to, so PIDs keep their meaning across nodes.
//
// The transport plugs into protoactor's process registry as the resolver
// of non-local PIDs: protoactor's Send and Request to a PID of another node
// go through it. It dials only the addresses of members (SetMembers), never
// one a message names, and decodes every frame without panicking: a frame
// over the size limit, a message of no known kind, garbage on the port or a
// call of another gRPC method is refused, and the node keeps serving.
//
// With TLS (Options.TLS, mutual and checked by ValidateTLS), every peer is
// the node its verified certificate names (package certs). A node dials a
// member only if the server's certificate names the member SetMembers
// gives at that address, and takes a stream's frames only from a member
// sending in its own name: every message that names a sender names the
// member's address, handoffs and pongs its name. A peer that claims
// another member or this node is refused at once; one that is not a
// member, or sends from an address that is no member's, after
// Options.MemberWait, the time for SetMembers to catch up with a node
// that has just joined or moved. A refused stream ends with
// PermissionDenied before its frame is delivered, and the refusal is
// logged at most once a minute per peer.
//
// # Usage
//
//	t, err := transport.Listen("127.0.0.1:0", transport.Options{MaxPayload: 4 << 20, TLS: cfg, Name: "node-1"})
//	addr := t.BoundAddr() // or the address other nodes dial
//	system.ProcessRegistry.Address = addr
//	t.Start(system, addr, nil)
//	t.SetMembers([]transport.Member{{Name: "node-2", Addr: "127.0.0.1:7001"}})
//	err = t.Send(pid, envelope, sender) // ErrQueueFull, ErrNotMember, ErrTooLarge
//	defer t.Close(ctx)
//
// # Concurrency
//
// A Transport is safe for concurrent use. Each peer has one goroutine that
// writes its frames; messages received on a stream are delivered to their
// processes from that stream's goroutine, in order.
package transport
