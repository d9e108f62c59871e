package mesh_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/cluster"
)

// gossipKey returns a 32-byte key of b.
func gossipKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func fingerprintsOf(keys ...[]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = mesh.GossipKeyFingerprint(k)
	}
	return out
}

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

// ownedBy returns an echo ID that n places on owner.
func ownedBy(t *testing.T, n *mesh.Node, owner string) string {
	t.Helper()
	for i := range 10000 {
		id := fmt.Sprintf("id-%d", i)
		p, err := n.Locate("echo", id)
		if err != nil {
			t.Fatalf("locate on %s: %v", n.Name(), err)
		}
		if p.Owner == owner {
			return id
		}
	}
	t.Fatalf("%s places no ID on %s", n.Name(), owner)
	return ""
}

// heardSince reports whether every node has heard from every other node
// directly since since. A member's LastSeen is the later of its last
// acknowledged probe and its last news; the tests that use this change no
// metadata while they wait, so LastSeen moving past since is an ack: the
// prober read the ack, the member read the probe.
func heardSince(since time.Time, nodes ...*mesh.Node) func() bool {
	return func() bool {
		for _, n := range nodes {
			ms := n.Members()
			if len(ms) < len(nodes) {
				return false
			}
			for _, m := range ms {
				if !m.Self && !m.LastSeen.After(since) {
					return false
				}
			}
		}
		return true
	}
}

// traffic calls echo from every node to IDs each other node owns, until
// stopped, and counts what happens.
type traffic struct {
	ok, remote atomic.Int64
	mu         sync.Mutex // guards failures
	failures   []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startTraffic(t *testing.T, nodes []*mesh.Node) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for _, from := range nodes {
		var ids []string
		for _, to := range nodes {
			if to != from {
				ids = append(ids, ownedBy(t, from, to.Name()))
			}
		}
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				reply, err := from.Call(ctx, mesh.Request{Capability: "echo", ID: ids[i%len(ids)], Payload: wrapString("x")})
				cancel()
				if err != nil {
					tr.mu.Lock()
					tr.failures = append(tr.failures, fmt.Sprintf("%s at %s: %v", from.Name(), time.Now().Format(time.StampMilli), err))
					tr.mu.Unlock()
					continue
				}
				tr.ok.Add(1)
				if servedBy(reply) != from.Name() {
					tr.remote.Add(1)
				}
				time.Sleep(5 * time.Millisecond) // a steady flow, not a load test
			}
		}()
	}
	return tr
}

// end stops the traffic and fails t if a call failed.
func (tr *traffic) end(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.wg.Wait()
	if len(tr.failures) > 0 {
		t.Errorf("%d calls failed, first: %s", len(tr.failures), tr.failures[0])
	}
	if tr.remote.Load() == 0 {
		t.Errorf("no call crossed nodes (%d succeeded)", tr.ok.Load())
	}
	t.Logf("%d calls succeeded, %d of them cross-node", tr.ok.Load(), tr.remote.Load())
}

// watchMembers checks every 10 ms, until stopped, that each of nodes
// lists all of them, and returns the first time one did not.
func watchMembers(nodes []*mesh.Node) (stop func() error) {
	done := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			for _, n := range nodes {
				seen := memberNames(n)
				for _, m := range nodes {
					if !slices.Contains(seen, m.Name()) {
						result <- fmt.Errorf("at %s %s lost %s: members %v", time.Now().Format(time.StampMilli), n.Name(), m.Name(), seen)
						return
					}
				}
			}
			select {
			case <-done:
				result <- nil
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		close(done)
		return <-result
	}
}

// TestGossipKeyRotation rotates the gossip key of a live three-node
// cluster in the README's three steps while calls flow between the nodes:
// no call fails, no node loses a member, every pair of nodes keeps hearing
// each other directly after each step, and afterwards a node with only
// the old key cannot join.
func TestGossipKeyRotation(t *testing.T) {
	const label = "rotation"
	old, next := gossipKey(1), gossipKey(2)
	var nodes []*mesh.Node
	var seeds []string
	for i := range 3 {
		name := fmt.Sprintf("node-%d", i+1)
		n := startNodeWith(t, name, seeds, withGossip(label, old), echo(name))
		nodes, seeds = append(nodes, n), append(seeds, n.GossipAddr())
	}
	waitConverged(t, nodes...)
	calls := startTraffic(t, nodes)
	members := watchMembers(nodes)
	begin := time.Now()

	check := func(what string, want []string) {
		t.Helper()
		for _, n := range nodes {
			if got := n.GossipKeyFingerprints(); !slices.Equal(got, want) {
				t.Fatalf("%s: %s has keys %v, want %v", what, n.Name(), got, want)
			}
		}
	}
	heard := func(what string) {
		t.Helper()
		since := time.Now()
		waitFor(t, 5*time.Second, "every pair of nodes to hear each other after "+what, heardSince(since, nodes...))
		t.Logf("%s: every pair heard each other within %v", what, time.Since(since))
	}

	// 1. Every node accepts the new key; all still seal with the old.
	for _, n := range nodes {
		if err := n.AddGossipKey(next); err != nil {
			t.Fatalf("add on %s: %v", n.Name(), err)
		}
	}
	check("added", fingerprintsOf(old, next))
	heard("the new key was added")

	// 2. Every node seals with the new key. Half done, node-1 seals with
	// it while the others seal with the old one.
	if err := nodes[0].UseGossipKey(next); err != nil {
		t.Fatalf("use on node-1: %v", err)
	}
	heard("node-1 sealed with the new key")
	for _, n := range nodes[1:] {
		if err := n.UseGossipKey(next); err != nil {
			t.Fatalf("use on %s: %v", n.Name(), err)
		}
	}
	check("made primary", fingerprintsOf(next, old))
	heard("every node sealed with the new key")

	// 3. Nobody seals with the old key any longer: drop it.
	if err := nodes[0].RemoveGossipKey(next); !errors.Is(err, mesh.ErrPrimaryGossipKey) {
		t.Fatalf("removing the primary key = %v, want ErrPrimaryGossipKey", err)
	}
	for _, n := range nodes {
		if err := n.RemoveGossipKey(old); err != nil {
			t.Fatalf("remove on %s: %v", n.Name(), err)
		}
	}
	check("removed", fingerprintsOf(next))
	heard("the old key was removed")

	calls.end(t)
	if err := members(); err != nil {
		t.Fatalf("during the rotation: %v", err)
	}
	t.Logf("rotation with calls flowing took %v", time.Since(begin))

	// A node with only the old key is refused; one with the new key, started
	// after it, joins.
	joinStart := time.Now()
	stale := startNodeWith(t, "stale", seeds, withGossip(label, old), echo("stale"))
	fresh := startNodeWith(t, "fresh", seeds, withGossip(label, next), echo("fresh"))
	observers := append(slices.Clone(nodes), fresh)
	const hold = 2 * time.Second
	waitFor(t, 15*time.Second, "fresh to join while stale stays alone", func() bool {
		for _, n := range observers {
			if slices.Contains(memberNames(n), "stale") {
				t.Fatalf("%v after it started, %s lists stale", time.Since(joinStart), n.Name())
			}
		}
		if got := memberNames(stale); !slices.Equal(got, []string{"stale"}) {
			t.Fatalf("stale sees %v", got)
		}
		for _, n := range nodes {
			if !slices.Contains(memberNames(n), "fresh") {
				return false
			}
		}
		return time.Since(joinStart) >= hold
	})
}

// TestGossipMiddleOfRotation holds a cluster in the middle step of a
// rotation, where nodes hold both keys and some seal with the new one
// while others still seal with the old: calls between every pair succeed,
// every pair hears each other directly, metadata spreads both ways, and a
// node started with the new key primary and the old one secondary joins.
func TestGossipMiddleOfRotation(t *testing.T) {
	old, next := gossipKey(1), gossipKey(2)
	var nodes []*mesh.Node
	var seeds []string
	for i := range 3 {
		name := fmt.Sprintf("node-%d", i+1)
		n := startNodeWith(t, name, seeds, withGossip("", old), echo(name))
		nodes, seeds = append(nodes, n), append(seeds, n.GossipAddr())
	}
	waitConverged(t, nodes...)
	for _, n := range nodes {
		if err := n.AddGossipKey(next); err != nil {
			t.Fatal(err)
		}
	}
	// node-1 seals with the new key; node-2 and node-3 with the old.
	if err := nodes[0].UseGossipKey(next); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	calls := startTraffic(t, nodes)
	members := watchMembers(nodes)
	waitFor(t, 5*time.Second, "every pair to hear each other", heardSince(begin, nodes...))
	t.Logf("every pair heard each other within %v", time.Since(begin))

	// News from a node of either key reaches every node.
	for _, n := range []*mesh.Node{nodes[0], nodes[2]} {
		capName := "from-" + n.Name()
		if err := n.RegisterCapabilities(mesh.Capability{Name: capName, New: echo(n.Name()).New}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, capName+" to be seen everywhere", func() bool {
			for _, o := range nodes {
				if _, err := o.Locate(capName, "x"); err != nil {
					return false
				}
			}
			return true
		})
	}

	// A node restarted now would start with the keys of this step: the
	// new one primary, the old one accepted. Seeded with node-2 alone,
	// which seals with the old key, it joins.
	late := startNodeWith(t, "node-4", seeds[1:2], withGossip("", next, old), echo("node-4"))
	all := append(slices.Clone(nodes), late)
	waitConverged(t, all...)
	joined := time.Now()
	waitFor(t, 5*time.Second, "node-4 and the others to hear each other", heardSince(joined, all...))
	for _, n := range nodes {
		if got := servedBy(mustCall(late, ownedBy(t, late, n.Name()))); got != n.Name() {
			t.Fatalf("node-4's call to an ID of %s: served by %q", n.Name(), got)
		}
	}

	// Hold the mixed step past a push-pull interval (2 s with the local
	// profile), the full state sync that also runs on the keys.
	waitFor(t, 10*time.Second, "the hold", func() bool { return time.Since(begin) > 3*time.Second })
	calls.end(t)
	if err := members(); err != nil {
		t.Fatal(err)
	}
}

func TestGossipKeyErrors(t *testing.T) {
	k1, k2 := gossipKey(1), gossipKey(2)
	plain := startNode(t, "plain", nil)
	if err := plain.AddGossipKey(k1); !errors.Is(err, mesh.ErrPlaintextGossip) {
		t.Errorf("AddGossipKey on a plaintext node = %v, want ErrPlaintextGossip", err)
	}
	if got := plain.GossipKeyFingerprints(); got != nil {
		t.Errorf("a plaintext node lists keys %v", got)
	}

	n := startNodeWith(t, "keyed", nil, withGossip("", k1))
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"add a short key", n.AddGossipKey(k1[:10]), mesh.ErrInvalidGossipKey},
		{"use an unknown key", n.UseGossipKey(k2), mesh.ErrUnknownGossipKey},
		{"remove an unknown key", n.RemoveGossipKey(k2), mesh.ErrUnknownGossipKey},
		{"remove the primary key", n.RemoveGossipKey(k1), mesh.ErrPrimaryGossipKey},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
		if tc.err != nil && strings.Contains(tc.err.Error(), string(k1[:10])) {
			t.Errorf("%s: error %q shows a key", tc.name, tc.err)
		}
	}
	if got, want := n.GossipKeyFingerprints(), fingerprintsOf(k1); !slices.Equal(got, want) {
		t.Errorf("keys %v after refused changes, want %v", got, want)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.AddGossipKey(k2); !errors.Is(err, mesh.ErrClosed) {
		t.Errorf("AddGossipKey after Close = %v, want ErrClosed", err)
	}
}
