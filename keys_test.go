package mesh_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/cluster"
)

// gossipKey returns a 32-byte key of b.
func gossipKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// withGossip sets a node's keys and label, and re-joins its seeds every
// 200 ms, so that a node refused by its seeds keeps knocking.
func withGossip(label string, keys ...[]byte) func(*mesh.Config) {
	return func(c *mesh.Config) {
		c.GossipKeys, c.ClusterLabel = keys, label
		c.RejoinInterval = 200 * time.Millisecond
	}
}

func memberNames(n *mesh.Node) []string {
	var out []string
	for _, m := range n.Members() {
		out = append(out, m.Name)
	}
	return out
}

func TestStartRefusesBadGossipSettings(t *testing.T) {
	k := gossipKey(1)
	for _, tc := range []struct {
		name  string
		keys  [][]byte
		label string
		want  error
	}{
		{"key of 15 bytes", [][]byte{k[:15]}, "", mesh.ErrInvalidGossipKey},
		{"second key of 31 bytes", [][]byte{k, gossipKey(2)[:31]}, "", mesh.ErrInvalidGossipKey},
		{"empty key", [][]byte{nil}, "", mesh.ErrInvalidGossipKey},
		{"duplicate keys", [][]byte{k, gossipKey(2), k}, "", cluster.ErrDuplicateKey},
		{"label of 256 bytes", nil, strings.Repeat("x", 256), cluster.ErrInvalidLabel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mesh.DefaultLocalConfig()
			cfg.NodeName = "bad"
			cfg.GossipKeys, cfg.ClusterLabel = tc.keys, tc.label
			n, err := mesh.Start(context.Background(), cfg)
			if err == nil {
				_ = n.Close(context.Background())
			}
			if !errors.Is(err, mesh.ErrInvalidConfig) || !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v, want ErrInvalidConfig and %v", err, tc.want)
			}
			if strings.Contains(err.Error(), string(k)) {
				t.Fatalf("error %q shows a key", err)
			}
		})
	}
}

func TestParseGossipKey(t *testing.T) {
	k := gossipKey(7)
	text := base64.StdEncoding.EncodeToString(k)
	got, err := mesh.ParseGossipKey(" " + text + "\n")
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("ParseGossipKey(%q) = %x, %v; want %x", text, got, err, k)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(k[:20])} {
		if _, err := mesh.ParseGossipKey(bad); !errors.Is(err, mesh.ErrInvalidGossipKey) {
			t.Errorf("ParseGossipKey(%q) = %v, want ErrInvalidGossipKey", bad, err)
		}
	}
}

// TestGossipStrangersCannotJoin starts nodes whose keys or label do not
// match a cluster's, and then a node that matches: that one joins, while
// the strangers stay alone at every look for 2 s of re-joins.
func TestGossipStrangersCannotJoin(t *testing.T) {
	k1, k2 := gossipKey(1), gossipKey(2)
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
		{"labelled", settings{"blue", nil}, map[string]settings{
			"x-other-label": {"green", nil},
		}},
		{"plaintext", settings{"", nil}, map[string]settings{
			"x-key": {"", [][]byte{k1}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			edit := withGossip(tc.cluster.label, tc.cluster.keys...)
			a := startNodeWith(t, "a", nil, edit, echo("a"))
			b := startNodeWith(t, "b", []string{a.GossipAddr()}, edit, echo("b"))
			waitConverged(t, a, b)
			seeds := []string{a.GossipAddr(), b.GossipAddr()}

			begin := time.Now()
			var strangers []*mesh.Node
			for name, s := range tc.strangers {
				strangers = append(strangers, startNodeWith(t, name, seeds, withGossip(s.label, s.keys...), echo(name)))
			}
			y := startNodeWith(t, "y", seeds, edit, echo("y"))
			insiders := []*mesh.Node{a, b, y}
			alone := func() error {
				var errs []error
				for _, x := range strangers {
					for _, n := range insiders {
						if slices.Contains(memberNames(n), x.Name()) {
							errs = append(errs, fmt.Errorf("%s lists %s", n.Name(), x.Name()))
						}
					}
					if got := memberNames(x); !slices.Equal(got, []string{x.Name()}) {
						errs = append(errs, fmt.Errorf("%s sees %v", x.Name(), got))
					}
				}
				return errors.Join(errs...)
			}
			const hold = 2 * time.Second
			waitFor(t, 15*time.Second, "y to join while the strangers stay alone", func() bool {
				if err := alone(); err != nil {
					t.Fatalf("after %v: %v", time.Since(begin), err)
				}
				for _, n := range insiders {
					if len(n.Members()) != len(insiders) {
						return false
					}
				}
				return time.Since(begin) >= hold
			})
		})
	}
}
