// Package capability names the kinds of process a node can host and keeps
// the node's local registry of them.
//
// A capability name is 1 to MaxNameLen bytes of ASCII letters, digits, '.',
// '-' and '_'; names are case-sensitive. The Registry maps names to whatever
// the caller stores for them (mesh stores process factories).
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
