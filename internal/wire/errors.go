package wire

import "errors"

var (
	// ErrPayloadTooLarge reports a payload or reply over the node's
	// MaxPayload. The root package exports it as mesh.ErrPayloadTooLarge.
	ErrPayloadTooLarge = errors.New("mesh: payload too large")
	// ErrBadPayload reports a payload that cannot be encoded or decoded,
	// or whose type this node does not know.
	ErrBadPayload = errors.New("wire: undecodable payload")
)
