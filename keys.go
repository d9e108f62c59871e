package mesh

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/meshrun/mesh/cluster"
)

// Errors of the gossip keyring (Config.GossipKeys). Match them with
// errors.Is.
var (
	// ErrInvalidGossipKey reports a gossip key that is not 16, 24 or 32
	// bytes, or not base64 for ParseGossipKey.
	ErrInvalidGossipKey = cluster.ErrInvalidKey
)

// ParseGossipKey decodes a gossip key written in standard base64, as
// `openssl rand -base64 32` prints one, for Config.GossipKeys. Spaces
// around it are ignored. It fails with ErrInvalidGossipKey for text that
// is not base64 or a key that is not 16, 24 or 32 bytes.
func ParseGossipKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// The text may be the key itself: never repeat it.
		return nil, fmt.Errorf("%w: not base64", ErrInvalidGossipKey)
	}
	if err := cluster.ValidateKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// GossipKeyFingerprint names key without revealing it: the first 8 hex
// digits of its SHA-256.
func GossipKeyFingerprint(key []byte) string { return cluster.Fingerprint(key) }
