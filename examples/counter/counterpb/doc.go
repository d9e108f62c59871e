// Package counterpb holds the messages of the counter example, generated
// from counter.proto by protoc-gen-go (make proto).
package counterpb
