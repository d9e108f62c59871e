package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// MaxLabelLen is memberlist's limit on Config.Label, in bytes: the label
// travels with its length in one byte.
const MaxLabelLen = memberlist.LabelMaxSize

// ValidateKeys reports the first problem of keys as Config.Keys: a key
// that is not 16, 24 or 32 bytes (ErrInvalidKey), or one given twice
// (ErrDuplicateKey). Errors name keys by index and fingerprint, never by
// their bytes.
func ValidateKeys(keys [][]byte) error {
	for i, k := range keys {
		if err := ValidateKey(k); err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		for j := range i {
			if bytes.Equal(keys[j], k) {
				return fmt.Errorf("%w: keys %d and %d are both %s", ErrDuplicateKey, j, i, Fingerprint(k))
			}
		}
	}
	return nil
}

// ValidateKey reports a key that is not 16, 24 or 32 bytes
// (ErrInvalidKey).
func ValidateKey(key []byte) error {
	if l := len(key); l != 16 && l != 24 && l != 32 {
		return fmt.Errorf("%w: %d bytes, want 16, 24 or 32 (AES-128, -192 or -256)", ErrInvalidKey, l)
	}
	return nil
}

// ValidateLabel reports a label too long for Config.Label
// (ErrInvalidLabel).
func ValidateLabel(label string) error {
	if len(label) > MaxLabelLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidLabel, len(label), MaxLabelLen)
	}
	return nil
}

// Fingerprint names key without revealing it: the first 8 hex digits of
// its SHA-256. Operators compare fingerprints to tell which keys a node
// holds.
func Fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// newKeyring returns a keyring of copies of keys, keys[0] primary, or nil
// for no keys. keys must have passed ValidateKeys.
func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	own := make([][]byte, len(keys))
	for i, k := range keys {
		own[i] = bytes.Clone(k)
	}
	return memberlist.NewKeyring(own[1:], own[0])
}

// The keyring is the one memberlist reads for every packet and stream it
// sends or receives. memberlist's Keyring has a lock of its own, but
// GetKeys hands out its slice itself, which decryption ranges over after
// the lock is released; the operations below take keysMu so that they see
// a consistent ring and never change one memberlist is reading (see
// RemoveKey).

// AddKey adds key to the keyring: from now on gossip sealed with it is
// accepted, and the node still encrypts with its primary key. Adding a key
// the ring holds changes nothing. It fails with ErrInvalidKey, with
// ErrPlaintext if m was started without keys, and with ErrClosed after
// Leave.
func (m *Membership) AddKey(key []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if err := m.keyringUsable(); err != nil {
		return err
	}
	// memberlist keeps the slice it is given: give it one nobody else
	// holds.
	return m.keyring.AddKey(bytes.Clone(key))
}

// UseKey makes key, which must be in the keyring, the primary key: the
// one everything this node sends is encrypted with. Every member must hold
// key before any of them uses it, or they stop hearing this node. It fails
// with ErrUnknownKey, ErrPlaintext or ErrClosed.
func (m *Membership) UseKey(key []byte) error {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if err := m.keyringUsable(); err != nil {
		return err
	}
	if indexOf(m.keyring.GetKeys(), key) < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownKey, Fingerprint(key))
	}
	return m.keyring.UseKey(key)
}

// RemoveKey removes key from the keyring: gossip sealed with it is
// refused from now on. It fails with ErrPrimaryKey for the primary key,
// with ErrUnknownKey for a key the ring does not hold (a mistyped key
// would otherwise look removed while the old one still works), and with
// ErrPlaintext or ErrClosed.
//
// memberlist's Keyring.RemoveKey shifts the keys after the removed one
// down in place, in the very array a decryption in progress may be
// reading. Removing the last key writes nothing, so a key that is not
// the last is removed by taking off the keys after it, then it, and
// putting them back in their order: for that moment (microseconds, and
// only with three keys or more) gossip sealed with those later keys is
// refused, which gossip survives like any lost packet.
func (m *Membership) RemoveKey(key []byte) error {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if err := m.keyringUsable(); err != nil {
		return err
	}
	keys := m.keyring.GetKeys()
	i := indexOf(keys, key)
	switch {
	case i < 0:
		return fmt.Errorf("%w: %s", ErrUnknownKey, Fingerprint(key))
	case i == 0:
		return fmt.Errorf("%w: %s", ErrPrimaryKey, Fingerprint(key))
	}
	// keys is memberlist's own slice: copy what goes back before the
	// ring changes under it.
	later := make([][]byte, len(keys)-i-1)
	copy(later, keys[i+1:])
	for j := len(later) - 1; j >= 0; j-- {
		if err := m.keyring.RemoveKey(later[j]); err != nil {
			return err
		}
	}
	if err := m.keyring.RemoveKey(key); err != nil {
		return err
	}
	for _, k := range later {
		if err := m.keyring.AddKey(k); err != nil {
			return err
		}
	}
	return nil
}

// KeyFingerprints returns the Fingerprint of every key in the keyring,
// the primary first; nil if m was started without keys.
func (m *Membership) KeyFingerprints() []string {
	if m.keyring == nil {
		return nil
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	keys := m.keyring.GetKeys()
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = Fingerprint(k)
	}
	return out
}

// keyringUsable reports why the keyring cannot change. The caller holds
// keysMu.
func (m *Membership) keyringUsable() error {
	if m.keyring == nil {
		return ErrPlaintext
	}
	select {
	case <-m.stop:
		return ErrClosed
	default:
		return nil
	}
}

func indexOf(keys [][]byte, key []byte) int {
	for i, k := range keys {
		if bytes.Equal(k, key) {
			return i
		}
	}
	return -1
}
