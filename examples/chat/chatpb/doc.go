// Package chatpb holds the messages of the chat example, generated from
// chat.proto by protoc-gen-go (make proto).
package chatpb
