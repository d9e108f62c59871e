// Package capability names the kinds of process a node can host and keeps
// the node's local registry of them.
//
// A capability name is 1 to MaxNameLen bytes of ASCII letters, digits, '.',
// '-' and '_'; names are case-sensitive. The Registry maps names to whatever
// the caller stores for them (mesh stores process factories).
//
// Labels are key/value pairs a node carries (region=eu); a capability may
// require labels of the nodes on its ring. ValidateLabel says which keys and
// values are valid, Unmet which required labels a node lacks. A capability
// split by a label has one ring per value of the label, and its processes
// are addressed by the scoped name Scope(name, value), "game@eu".
//
// # Usage
//
//	var r capability.Registry[Factory]
//	if err := r.Add(map[string]Factory{"counter": newCounter}); err != nil { ... }
//	f, ok := r.Get("counter")
//
// # Concurrency
//
// Registry is safe for concurrent use. Get takes no lock: it reads an
// immutable snapshot that Add and Remove replace.
package capability
