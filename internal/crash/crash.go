// Package crash lets meshtest stop a node abruptly, as kill -9 would,
// without making that a method of mesh.Node: the root package registers
// the function at init, and meshtest calls it.
//
// # Usage
//
//	crash.Node(n) // n is a *mesh.Node
//
// # Concurrency
//
// Register is called once, from the root package's init, before any
// goroutine can call Node; Node is safe to call from any goroutine.
package crash

// kill is set once by the root package's init and never changed after.
var kill func(node any)

// Register sets the function Node calls. Only the root package calls it,
// from its init.
func Register(f func(node any)) { kill = f }

// Node stops node, a *mesh.Node, as a killed process would stop: see the
// root package's kill.go for what it does and does not do.
func Node(node any) { kill(node) }
