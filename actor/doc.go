// Package actor is the contract between mesh and a user's process: what a
// Process implements, the Context it is handed with each message, the
// reasons an activation stops, and the error a caller sees when a Process
// fails. It imports no other package of mesh and none of the libraries
// mesh is built on, so code that implements a Process depends on nothing
// but this package and protobuf.
//
// A Process handles the messages of one (capability, ID), one at a time:
//
//	type counter struct{ n int64 }
//
//	func (c *counter) Handle(ctx actor.Context, msg proto.Message) (proto.Message, error) {
//		c.n++
//		return wrapperspb.Int64(c.n), nil
//	}
//
// The root package mesh re-exports these types under the same names, and
// hosts processes: see mesh.Capability and mesh.RegisterCapabilities. A
// test can call Handle directly with a TestContext.
package actor
