package cluster

import "errors"

var (
	// ErrMetaTooLarge reports node metadata over MaxMetaSize bytes: too
	// many or too long capability names or labels.
	ErrMetaTooLarge = errors.New("cluster: node metadata too large")
	// ErrBadMeta reports metadata from the network that does not parse.
	ErrBadMeta = errors.New("cluster: malformed node metadata")
	// ErrClosed reports use of a Membership after Close.
	ErrClosed = errors.New("cluster: membership closed")
)
