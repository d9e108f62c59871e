// Package storetest is the conformance suite of the store.Store contract:
// every implementation, in this module or another, runs it from its tests
// and passes it.
//
// # Usage
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "state.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suite covers the contract as package store documents it: versions
// and their fencing, deletion (and that a deleted record cannot be brought
// back by a writer that saw it), exact round trips of records, keys kept
// apart byte for byte, bounds, contexts, Close, and concurrent use checked
// against a model with a fixed seed. It runs in a few seconds against the
// in-memory store, and writes at most a few thousand keys and one record
// of store.MaxDataLen bytes.
//
// # Concurrency
//
// Subtests run one after another, each against a store of its own; some
// of them use that store from many goroutines at once.
package storetest
