// Package kubernetes holds the manifests that run the chat example
// (examples/chat) as a StatefulSet, and the test that checks them: every
// document decodes strictly into the Kubernetes API's own types (an
// unknown or misspelt field fails), and the documents agree with each
// other and with what a mesh node needs. It is a module of its own, so
// that the Kubernetes API's modules never enter mesh's module graph.
//
// # Usage
//
//	cd deploy/kubernetes && go test ./...
//	kubectl apply -f deploy/kubernetes/
//
// # Concurrency
//
// Nothing here runs; the test reads files.
package kubernetes
