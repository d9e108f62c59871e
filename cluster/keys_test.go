package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKey returns a key of n bytes, all b.
func testKey(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func fingerprints(keys ...[]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = Fingerprint(k)
	}
	return out
}

func TestJoinRejectsBadKeysAndLabels(t *testing.T) {
	k := testKey(1, 16)
	for _, tc := range []struct {
		name  string
		keys  [][]byte
		label string
		want  error
	}{
		{"empty key", [][]byte{{}}, "", ErrInvalidKey},
		{"15 bytes", [][]byte{testKey(1, 15)}, "", ErrInvalidKey},
		{"33 bytes", [][]byte{k, testKey(2, 33)}, "", ErrInvalidKey},
		{"duplicate", [][]byte{k, testKey(2, 24), k}, "", ErrDuplicateKey},
		{"label too long", nil, strings.Repeat("l", MaxLabelLen+1), ErrInvalidLabel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Name: "bad", BindAddr: "127.0.0.1", Keys: tc.keys, Label: tc.label}
			m, err := Join(context.Background(), cfg, metaOf("bad"))
			if !errors.Is(err, tc.want) {
				if err == nil {
					_ = m.Leave(time.Second)
				}
				t.Fatalf("Join = %v, want %v", err, tc.want)
			}
			if bytes.Contains([]byte(err.Error()), k) {
				t.Fatalf("error %q shows a key's bytes", err)
			}
		})
	}
	for _, keys := range [][][]byte{nil, {testKey(1, 16)}, {testKey(1, 24), testKey(2, 32), testKey(3, 16)}} {
		if err := ValidateKeys(keys); err != nil {
			t.Errorf("ValidateKeys(%d keys of %v) = %v", len(keys), fingerprints(keys...), err)
		}
	}
	if err := ValidateLabel(strings.Repeat("l", MaxLabelLen)); err != nil {
		t.Errorf("ValidateLabel(%d bytes) = %v", MaxLabelLen, err)
	}
}

func TestFingerprint(t *testing.T) {
	// The first 8 hex digits of SHA-256 of 16 zero bytes.
	if got, want := Fingerprint(make([]byte, 16)), "374708ff"; got != want {
		t.Fatalf("Fingerprint(16 zero bytes) = %s, want %s", got, want)
	}
}

// TestStrangersCannotJoin starts, next to each kind of cluster, nodes
// that differ from it in their keys or label, all at once, and one node
// like the cluster's own members, which shows the wait was long enough
// for a join.
func TestStrangersCannotJoin(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 32)
	type settings struct {
		label string
		keys  [][]byte
	}
	for _, tc := range []struct {
		name      string
		cluster   settings
		strangers map[string]settings
	}{
		{"encrypted", settings{"", [][]byte{k1}}, map[string]settings{
			"x-no-key":    {"", nil},
			"x-wrong-key": {"", [][]byte{k2}},
		}},
		{"encrypted and labelled", settings{"blue", [][]byte{k1}}, map[string]settings{
			"x-no-key":    {"blue", nil},
			"x-wrong-key": {"blue", [][]byte{k2}},
			// The label is authenticated data of the encryption too.
			"x-other-label": {"green", [][]byte{k1}},
			"x-no-label":    {"", [][]byte{k1}},
		}},
		{"plaintext", settings{"", nil}, map[string]settings{
			"x-key":   {"", [][]byte{k1}},
			"x-label": {"green", nil},
		}},
		{"labelled", settings{"blue", nil}, map[string]settings{
			"x-other-label": {"green", nil},
			"x-no-label":    {"", nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			with := func(s settings) func(*Config) {
				return func(c *Config) {
					c.Keys, c.Label = s.keys, s.label
					c.RejoinInterval = 200 * time.Millisecond
				}
			}
			a := start(t, "a", nil, with(tc.cluster))
			b := start(t, "b", []string{a.LocalAddr()}, with(tc.cluster))
			waitFor(t, 5*time.Second, "a and b converge", reported([]*node{a, b}, a, b))
			seeds := []string{a.LocalAddr(), b.LocalAddr()}

			begin := time.Now()
			var strangers []*node
			for name, s := range tc.strangers {
				strangers = append(strangers, start(t, name, seeds, with(s)))
			}
			y := start(t, "y", seeds, with(tc.cluster))
			insiders := []*node{a, b, y}
			// alone reports every stranger that is not alone.
			alone := func() error {
				var errs []error
				for _, x := range strangers {
					for _, n := range insiders {
						if slices.Contains(names(n.Members()), x.name) {
							errs = append(errs, fmt.Errorf("%s lists %s", n.name, x.name))
						}
					}
					if got := names(x.Members()); !slices.Equal(got, []string{x.name}) {
						errs = append(errs, fmt.Errorf("%s sees %v", x.name, got))
					}
				}
				return errors.Join(errs...)
			}
			// Until y is in and 2 s have passed (ten re-joins of every
			// stranger), the strangers must stay alone at every look.
			const hold = 2 * time.Second
			waitFor(t, 10*time.Second, "y joins while the strangers stay alone", func() error {
				if err := alone(); err != nil {
					t.Fatalf("after %v: %v", time.Since(begin), err)
				}
				if err := reported(insiders, insiders...)(); err != nil {
					return err
				}
				if time.Since(begin) < hold {
					return errors.New("holding")
				}
				return nil
			})
		})
	}
}
