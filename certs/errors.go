package certs

import "errors"

// Errors of NodeName and ParseAuthority.
var (
	// ErrNoNode reports a certificate with no mesh://node/NAME URI.
	ErrNoNode = errors.New("certs: certificate names no node")
	// ErrManyNodes reports a certificate with more than one
	// mesh://node/NAME URI: it names no node unambiguously.
	ErrManyNodes = errors.New("certs: certificate names more than one node")
	// ErrNotAuthority reports a CA certificate and key that do not make an
	// authority: not PEM, not a CA, or a key that is not the
	// certificate's.
	ErrNotAuthority = errors.New("certs: not a CA certificate and its key")
	// ErrInvalidName reports a node name that is empty, over 128 bytes or
	// not valid UTF-8.
	ErrInvalidName = errors.New("certs: invalid node name")
)
