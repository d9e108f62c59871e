package mesh

import (
	"encoding/base64"
	"errors"
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
	// ErrUnknownGossipKey reports a key that is not in the node's keyring.
	ErrUnknownGossipKey = cluster.ErrUnknownKey
	// ErrPrimaryGossipKey reports an attempt to remove the key the node
	// encrypts with: make another key primary first (UseGossipKey).
	ErrPrimaryGossipKey = cluster.ErrPrimaryKey
	// ErrPlaintextGossip reports a keyring change on a node started without
	// Config.GossipKeys: its gossip is plaintext, and a key added now would
	// cut it off from its plaintext peers.
	ErrPlaintextGossip = cluster.ErrPlaintext
)

// ParseGossipKey decodes a gossip key written in standard base64, as
// `openssl rand -base64 32` prints one, for Config.GossipKeys and the
// keyring methods. Spaces around it are ignored. It fails with
// ErrInvalidGossipKey for text that is not base64 or a key that is not
// 16, 24 or 32 bytes.
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

// GossipKeyFingerprint names key without revealing it, as
// GossipKeyFingerprints lists it: the first 8 hex digits of its SHA-256.
func GossipKeyFingerprint(key []byte) string { return cluster.Fingerprint(key) }

// AddGossipKey adds key to the node's gossip keyring: from now on the node
// accepts gossip sealed with it, and still seals its own with the primary
// key. Adding a key the ring holds changes nothing. It is the first step
// of a rotation (README.md, "Securing gossip"); the change is not kept
// across a restart, which uses Config.GossipKeys. It fails with
// ErrInvalidGossipKey, ErrPlaintextGossip, or ErrClosed once the node has
// left the cluster.
func (n *Node) AddGossipKey(key []byte) error {
	return n.changeKeys("added", key, n.members.AddKey)
}

// UseGossipKey makes key, which must be in the node's keyring, its primary
// gossip key: the one it seals all it sends with. Every node must hold key
// (AddGossipKey) before any node uses it, or those without it stop hearing
// this node. It fails with ErrUnknownGossipKey, ErrPlaintextGossip or
// ErrClosed.
func (n *Node) UseGossipKey(key []byte) error {
	return n.changeKeys("made primary", key, n.members.UseKey)
}

// RemoveGossipKey removes key from the node's keyring: gossip sealed with
// it is refused from now on. No node may still seal with key (every node
// must have moved to another with UseGossipKey), or this node stops
// hearing it. It fails with ErrPrimaryGossipKey for the node's primary
// key, ErrUnknownGossipKey for a key the ring does not hold, and
// ErrPlaintextGossip or ErrClosed.
func (n *Node) RemoveGossipKey(key []byte) error {
	return n.changeKeys("removed", key, n.members.RemoveKey)
}

// GossipKeyFingerprints returns the GossipKeyFingerprint of every key in
// the node's gossip keyring, the primary first; nil when gossip is
// plaintext. The keys themselves never leave the keyring.
func (n *Node) GossipKeyFingerprints() []string { return n.members.KeyFingerprints() }

func (n *Node) changeKeys(what string, key []byte, change func([]byte) error) error {
	if err := change(key); err != nil {
		if errors.Is(err, cluster.ErrClosed) {
			return fmt.Errorf("%w: %s", ErrClosed, n.name)
		}
		return fmt.Errorf("mesh: %s: gossip key %s not %s: %w", n.name, GossipKeyFingerprint(key), what, err)
	}
	n.logger.Info("gossip key "+what, "key", GossipKeyFingerprint(key), "keyring", n.members.KeyFingerprints())
	return nil
}
