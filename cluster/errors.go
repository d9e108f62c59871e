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
	// ErrInvalidKey reports a gossip key that is not 16, 24 or 32 bytes
	// long.
	ErrInvalidKey = errors.New("cluster: invalid gossip key")
	// ErrDuplicateKey reports a key given twice in Config.Keys.
	ErrDuplicateKey = errors.New("cluster: duplicate gossip key")
	// ErrInvalidLabel reports a Config.Label over MaxLabelLen bytes.
	ErrInvalidLabel = errors.New("cluster: invalid cluster label")
	// ErrUnknownKey reports a key that is not in the keyring.
	ErrUnknownKey = errors.New("cluster: no such gossip key")
	// ErrPrimaryKey reports an attempt to remove the primary key: make
	// another key primary first.
	ErrPrimaryKey = errors.New("cluster: cannot remove the primary gossip key")
	// ErrPlaintext reports a keyring change on a Membership that was
	// started without keys, whose gossip is plaintext.
	ErrPlaintext = errors.New("cluster: gossip is plaintext (started without keys)")
	// ErrInvalidDNSName reports a DNS.Name that is neither a DNS name (SRV
	// records) nor a DNS name and a port (A and AAAA records).
	ErrInvalidDNSName = errors.New("cluster: invalid seeds DNS name")
)
