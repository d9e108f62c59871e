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

func TestKeyringChanges(t *testing.T) {
	k1, k2, k3 := testKey(1, 16), testKey(2, 24), testKey(3, 32)
	mine := slices.Clone(k1)
	a := start(t, "a", nil, func(c *Config) { c.Keys = [][]byte{mine} })
	// Join keeps its own copy: what the caller does with its slice later
	// does not change the ring.
	mine[0] = 9
	check := func(want ...[]byte) {
		t.Helper()
		if got := a.KeyFingerprints(); !slices.Equal(got, fingerprints(want...)) {
			t.Fatalf("keys %v, want %v", got, fingerprints(want...))
		}
	}
	check(k1)

	if err := a.AddKey(testKey(4, 20)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("AddKey(20 bytes) = %v, want ErrInvalidKey", err)
	}
	for _, k := range [][]byte{k2, k3, k2} {
		if err := a.AddKey(k); err != nil {
			t.Fatalf("AddKey: %v", err)
		}
	}
	check(k1, k2, k3) // adding k2 again changed nothing
	if err := a.UseKey(testKey(5, 16)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("UseKey(unknown) = %v, want ErrUnknownKey", err)
	}
	if err := a.RemoveKey(k1); !errors.Is(err, ErrPrimaryKey) {
		t.Fatalf("RemoveKey(primary) = %v, want ErrPrimaryKey", err)
	}
	if err := a.RemoveKey(testKey(5, 16)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("RemoveKey(unknown) = %v, want ErrUnknownKey", err)
	}
	check(k1, k2, k3)
	// k2 is not the last key: the others keep their order.
	if err := a.RemoveKey(k2); err != nil {
		t.Fatalf("RemoveKey(k2): %v", err)
	}
	check(k1, k3)
	if err := a.UseKey(k3); err != nil {
		t.Fatalf("UseKey(k3): %v", err)
	}
	check(k3, k1)
	if err := a.RemoveKey(k1); err != nil {
		t.Fatalf("RemoveKey(k1): %v", err)
	}
	check(k3)

	if err := a.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	for op, f := range map[string]func([]byte) error{"AddKey": a.AddKey, "UseKey": a.UseKey, "RemoveKey": a.RemoveKey} {
		if err := f(k3); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Leave = %v, want ErrClosed", op, err)
		}
	}

	plain := start(t, "plain", nil, nil)
	for op, f := range map[string]func([]byte) error{"AddKey": plain.AddKey, "UseKey": plain.UseKey, "RemoveKey": plain.RemoveKey} {
		if err := f(k1); !errors.Is(err, ErrPlaintext) {
			t.Errorf("%s on a plaintext membership = %v, want ErrPlaintext", op, err)
		}
	}
	if got := plain.KeyFingerprints(); got != nil {
		t.Errorf("plaintext membership lists keys %v", got)
	}
}

// probedSince checks that n has had a direct probe of every peer
// acknowledged after since: both have read what the other sent since then.
func probedSince(n *node, since time.Time, peers ...*node) error {
	probes := n.Probes()
	for _, p := range peers {
		if pr, ok := probes[p.name]; !ok || !pr.Acked.After(since) {
			return fmt.Errorf("%s has no probe of %s acknowledged since %v", n.name, p.name, since.Format(time.StampMilli))
		}
	}
	return nil
}

// everyPairProbedSince checks probedSince for every ordered pair of nodes.
func everyPairProbedSince(since time.Time, nodes ...*node) func() error {
	return func() error {
		for _, n := range nodes {
			var peers []*node
			for _, p := range nodes {
				if p != n {
					peers = append(peers, p)
				}
			}
			if err := probedSince(n, since, peers...); err != nil {
				return err
			}
		}
		return nil
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

// TestKeyRotation changes the key of a live cluster in the three steps
// the README gives, checking after each that every member still reads
// every other directly.
func TestKeyRotation(t *testing.T) {
	k1, k2 := testKey(1, 16), testKey(2, 32)
	with := func(c *Config) { c.Keys = [][]byte{k1} }
	a := start(t, "a", nil, with)
	b := start(t, "b", []string{a.LocalAddr()}, with)
	c := start(t, "c", []string{a.LocalAddr(), b.LocalAddr()}, with)
	all := []*node{a, b, c}
	waitFor(t, 10*time.Second, "three members converge", reported(all, all...))

	for _, step := range []struct {
		name string
		do   func(*node) error
		want []string
		// Only while a new primary is taken do members seal with different
		// keys: that step is also checked half done, with a on the new
		// key and b and c on the old one.
		staged bool
	}{
		{"add the new key", func(n *node) error { return n.AddKey(k2) }, fingerprints(k1, k2), false},
		{"make it primary", func(n *node) error { return n.UseKey(k2) }, fingerprints(k2, k1), true},
		{"remove the old key", func(n *node) error { return n.RemoveKey(k1) }, fingerprints(k2), false},
	} {
		groups := [][]*node{all}
		if step.staged {
			groups = [][]*node{{a}, {b, c}}
		}
		for _, group := range groups {
			for _, n := range group {
				if err := step.do(n); err != nil {
					t.Fatalf("%s on %s: %v", step.name, n.name, err)
				}
				if got := n.KeyFingerprints(); !slices.Equal(got, step.want) {
					t.Fatalf("%s on %s: keys %v, want %v", step.name, n.name, got, step.want)
				}
			}
			what := step.name
			if step.staged {
				what += " on " + strings.Join(names(membersOf(group)), " and ")
			}
			done := time.Now()
			took := waitFor(t, 5*time.Second, "every pair probes after "+what, everyPairProbedSince(done, all...))
			if err := reported(all, all...)(); err != nil {
				t.Fatalf("after %s: %v", what, err)
			}
			t.Logf("%s: every pair probed within %v", what, took)
		}
	}
}

func membersOf(nodes []*node) []Member {
	out := make([]Member, len(nodes))
	for i, n := range nodes {
		out[i] = Member{Name: n.name}
	}
	return out
}

// TestKeyStepsOutOfOrderSplit pins why each step of a rotation must be
// done on every node before the next begins: a node that encrypts with a
// key another does not hold, or stops holding the key another encrypts
// with, stops hearing that node.
func TestKeyStepsOutOfOrderSplit(t *testing.T) {
	k1, k2 := testKey(1, 16), testKey(2, 16)
	for _, tc := range []struct {
		name string
		// on a; b holds k1 only, or k1 then k2 if bAdds.
		a     []func(*node) error
		bAdds bool
	}{
		{"primary before every node holds it", []func(*node) error{
			func(n *node) error { return n.AddKey(k2) },
			func(n *node) error { return n.UseKey(k2) },
		}, false},
		{"old key removed while a node still uses it", []func(*node) error{
			func(n *node) error { return n.AddKey(k2) },
			func(n *node) error { return n.UseKey(k2) },
			func(n *node) error { return n.RemoveKey(k1) },
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			with := func(c *Config) { c.Keys = [][]byte{k1} }
			a := start(t, "a", nil, with)
			b := start(t, "b", []string{a.LocalAddr()}, with)
			waitFor(t, 5*time.Second, "a and b converge", reported([]*node{a, b}, a, b))
			if tc.bAdds {
				if err := b.AddKey(k2); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.a {
				if err := f(a); err != nil {
					t.Fatal(err)
				}
			}
			changed := time.Now()
			// A probe in flight when the keys changed may still be
			// acknowledged; after that, none is. a probes b every interval.
			settle := changed.Add(a.ProbeInterval())
			hold := 6 * a.ProbeInterval()
			for time.Since(changed) < hold {
				if err := probedSince(a, settle, b); err == nil {
					t.Fatalf("a's probe of b acknowledged %v after the change", time.Since(changed))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
