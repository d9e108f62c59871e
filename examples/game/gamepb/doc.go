// Package gamepb holds the messages of the game example, generated from
// game.proto by protoc-gen-go (make proto).
package gamepb
