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
		if err := validateKey(k); err != nil {
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

func validateKey(key []byte) error {
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
