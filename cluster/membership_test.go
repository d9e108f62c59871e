package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Every goroutine a Membership or its memberlist starts must be gone
	// once the tests have called Leave. goleak retries for a while before it
	// reports, which covers memberlist's handlers that return just after
	// Shutdown closes their channels. A probe in flight is the exception:
	// Shutdown does not wait for it, and it ends by itself once its ack
	// times out (a probe interval, plus a TCP fallback ping).
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// recorder keeps what OnChange last reported.
type recorder struct {
	mu    sync.Mutex // guards last, calls
	last  []Member
	calls int
}

func (r *recorder) onChange(ms []Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = ms
	r.calls++
}

func (r *recorder) view() ([]Member, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.calls
}

// node is a Membership under test with the OnChange reports it made.
type node struct {
	*Membership
	name string
	meta Meta
	rec  *recorder
}

func metaOf(name string) Meta {
	return Meta{
		RemoteAddr:   name + ".test:7000",
		Capabilities: []string{"chat", "counter-" + name},
		Labels:       map[string]string{"node": name},
	}
}

// start joins a member named name on 127.0.0.1 with an OS-chosen port,
// seeded with seeds, and leaves it when the test ends. configure, if not
// nil, adjusts the Config before Join.
func start(t *testing.T, name string, seeds []string, configure func(*Config)) *node {
	t.Helper()
	n := &node{name: name, meta: metaOf(name), rec: &recorder{}}
	cfg := Config{
		Name:     name,
		BindAddr: "127.0.0.1",
		BindPort: 0,
		Seeds:    seeds,
		OnChange: n.rec.onChange,
	}
	if configure != nil {
		configure(&cfg)
	}
	m, err := Join(context.Background(), cfg, n.meta)
	if err != nil {
		t.Fatalf("Join %s: %v", name, err)
	}
	n.Membership = m
	t.Cleanup(func() {
		if err := m.Leave(500 * time.Millisecond); err != nil {
			t.Logf("leave %s: %v", name, err)
		}
	})
	return n
}

// crash stops n's gossip and goroutines without telling anyone, as a killed
// process would. A later Leave is a no-op.
func crash(n *node) { _ = n.Crash() }

// waitFor polls cond until it returns nil or timeout passes, and returns
// how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	begin := time.Now()
	deadline := begin.Add(timeout)
	for {
		err := cond()
		if err == nil {
			return time.Since(begin)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func names(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// sees checks that ms is exactly nodes, with their addresses and metadata.
func sees(ms []Member, nodes ...*node) error {
	want := make([]string, len(nodes))
	for i, n := range nodes {
		want[i] = n.name
	}
	slices.Sort(want)
	if got := names(ms); !slices.Equal(got, want) {
		return fmt.Errorf("members %v, want %v", got, want)
	}
	for _, n := range nodes {
		i := slices.IndexFunc(ms, func(m Member) bool { return m.Name == n.name })
		if ms[i].GossipAddr != n.LocalAddr() {
			return fmt.Errorf("%s at %s, want %s", n.name, ms[i].GossipAddr, n.LocalAddr())
		}
		if !reflect.DeepEqual(ms[i].Meta, n.meta) {
			return fmt.Errorf("%s meta %+v, want %+v", n.name, ms[i].Meta, n.meta)
		}
	}
	return nil
}

// reported checks that the last OnChange of every observer saw exactly nodes.
func reported(observers []*node, nodes ...*node) func() error {
	return func() error {
		for _, o := range observers {
			ms, _ := o.rec.view()
			if err := sees(ms, nodes...); err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
		}
		return nil
	}
}

func TestOnChangeAtStart(t *testing.T) {
	a := start(t, "a", nil, nil)
	waitFor(t, 2*time.Second, "first OnChange", reported([]*node{a}, a))
	if ms := a.Members(); sees(ms, a) != nil {
		t.Fatalf("Members() = %v, want only a", names(ms))
	}
}

func TestJoinRejectsLargeMeta(t *testing.T) {
	_, err := Join(context.Background(), Config{Name: "big", BindAddr: "127.0.0.1"}, Meta{RemoteAddr: strings.Repeat("x", MaxMetaSize)})
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Join = %v, want ErrMetaTooLarge", err)
	}
}

func TestConverge(t *testing.T) {
	a := start(t, "a", nil, nil)
	b := start(t, "b", []string{a.LocalAddr()}, nil)
	c := start(t, "c", []string{a.LocalAddr(), b.LocalAddr()}, nil)
	all := []*node{a, b, c}
	took := waitFor(t, 10*time.Second, "three members converge", reported(all, all...))
	t.Logf("converged in %v", took)
	for _, n := range all {
		if err := sees(n.Members(), all...); err != nil {
			t.Errorf("%s Members(): %v", n.name, err)
		}
	}
}

func TestSetMeta(t *testing.T) {
	a := start(t, "a", nil, nil)
	b := start(t, "b", []string{a.LocalAddr()}, nil)
	c := start(t, "c", []string{a.LocalAddr()}, nil)
	all := []*node{a, b, c}
	waitFor(t, 10*time.Second, "three members converge", reported(all, all...))

	t.Run("too large keeps the old", func(t *testing.T) {
		huge := b.meta
		huge.Capabilities = make([]string, 60)
		for i := range huge.Capabilities {
			huge.Capabilities[i] = "capability-" + strconv.Itoa(i)
		}
		if err := b.SetMeta(huge, time.Second); !errors.Is(err, ErrMetaTooLarge) {
			t.Fatalf("SetMeta = %v, want ErrMetaTooLarge", err)
		}
		got, err := DecodeMeta((*delegate)(b.Membership).NodeMeta(MaxMetaSize))
		if err != nil || !reflect.DeepEqual(got, b.meta) {
			t.Fatalf("b now gossips %+v (%v), want its old metadata", got, err)
		}
		if err := reported(all, all...)(); err != nil {
			t.Fatalf("after a refused SetMeta: %v", err)
		}
	})

	t.Run("change is seen within 1s", func(t *testing.T) {
		next := Meta{RemoteAddr: "b.test:7001", Capabilities: []string{"game"}, Draining: true}
		begin := time.Now()
		if err := b.SetMeta(next, time.Second); err != nil {
			t.Fatalf("SetMeta: %v", err)
		}
		b.meta = next
		// With three members b gossips the update to both others directly.
		waitFor(t, time.Second-time.Since(begin), "a and c see b's new metadata", reported([]*node{a, c}, all...))
		t.Logf("a and c saw b's new metadata %v after SetMeta began", time.Since(begin))
	})
}

func TestSlowOnChangeDoesNotBlockGossip(t *testing.T) {
	slow := func(c *Config) {
		next := c.OnChange
		c.OnChange = func(ms []Member) {
			time.Sleep(200 * time.Millisecond) // a slow subscriber, not a wait
			next(ms)
		}
	}
	// a's subscriber is stuck outright until the test lets it go.
	release := make(chan struct{})
	var releaseOnce sync.Once
	stuck := func(c *Config) {
		next := c.OnChange
		c.OnChange = func(ms []Member) {
			<-release
			next(ms)
		}
	}
	a := start(t, "a", nil, stuck)
	// Runs before a's Leave, which waits for its OnChange to return.
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	b := start(t, "b", []string{a.LocalAddr()}, slow)
	c := start(t, "c", []string{a.LocalAddr()}, slow)
	waitFor(t, 10*time.Second, "b and c converge", reported([]*node{b, c}, a, b, c))

	d := start(t, "d", []string{b.LocalAddr()}, slow)
	all := []*node{a, b, c, d}
	took := waitFor(t, 10*time.Second, "a 4th member joins past slow subscribers", reported([]*node{b, c, d}, all...))
	t.Logf("4 members converged %v after d started, with OnChange taking 200 ms", took)

	// a's OnChange has not returned once, yet a's membership kept up.
	if _, calls := a.rec.view(); calls != 0 {
		t.Fatalf("a's blocked OnChange completed %d times", calls)
	}
	waitFor(t, 5*time.Second, "a's own view while its OnChange is blocked", func() error {
		return sees(a.Members(), all...)
	})
	if err := a.SetMeta(Meta{RemoteAddr: "a.test:7002"}, time.Second); err != nil {
		t.Fatalf("SetMeta with a blocked OnChange: %v", err)
	}
	a.meta = Meta{RemoteAddr: "a.test:7002"}
	// With four members memberlist sends a broadcast to only two peers
	// (RetransmitMult 2), and a peer that neither a nor a relay picked
	// catches up at the next push/pull, up to about 5 s later.
	waitFor(t, 10*time.Second, "a's metadata update while its OnChange is blocked", reported([]*node{b, c, d}, all...))

	releaseOnce.Do(func() { close(release) })
	waitFor(t, 5*time.Second, "a reports once released", reported([]*node{a}, all...))
}

func TestLeave(t *testing.T) {
	a := start(t, "a", nil, nil)
	b := start(t, "b", []string{a.LocalAddr()}, nil)
	c := start(t, "c", []string{a.LocalAddr()}, nil)
	waitFor(t, 10*time.Second, "three members converge", reported([]*node{a, b, c}, a, b, c))

	begin := time.Now()
	if err := c.Leave(time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	waitFor(t, 2*time.Second, "a and b drop c", reported([]*node{a, b}, a, b))
	t.Logf("a and b dropped c %v after Leave began", time.Since(begin))
	if err := c.Leave(time.Second); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if err := c.SetMeta(Meta{RemoteAddr: "x"}, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetMeta after Leave: %v, want ErrClosed", err)
	}
}

func TestRestartUnderSameName(t *testing.T) {
	a := start(t, "a", nil, nil)
	b := start(t, "b", []string{a.LocalAddr()}, nil)
	c := start(t, "c", []string{a.LocalAddr(), b.LocalAddr()}, nil)
	waitFor(t, 10*time.Second, "three members converge", reported([]*node{a, b, c}, a, b, c))

	oldAddr := c.LocalAddr()
	crash(c)
	c2 := start(t, "c", []string{a.LocalAddr(), b.LocalAddr()}, nil)
	if c2.LocalAddr() == oldAddr {
		t.Fatalf("restarted on the old address %s; the test needs a new port", oldAddr)
	}
	took := waitFor(t, 10*time.Second, "a and b see c at its new address", reported([]*node{a, b}, a, b, c2))
	t.Logf("restarted c (%s → %s) seen by a and b after %v", oldAddr, c2.LocalAddr(), took)
}

// freePort returns a port that is free for both TCP and UDP on 127.0.0.1
// at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

func TestRejoinFindsSeedThatStartedLater(t *testing.T) {
	port := freePort(t)
	seed := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	fast := func(c *Config) { c.RejoinInterval = 200 * time.Millisecond }

	// b's only seed is not listening yet: its initial join fails.
	b := start(t, "b", []string{seed}, fast)
	if ms := b.Members(); len(ms) != 1 {
		t.Fatalf("b sees %v before its seed exists", names(ms))
	}
	// a comes up on the seed address knowing nobody. Only b's periodic
	// re-join can bring them together.
	a := start(t, "a", nil, func(c *Config) { c.BindPort = port })
	if a.LocalAddr() != seed {
		t.Fatalf("a listens on %s, want %s", a.LocalAddr(), seed)
	}
	took := waitFor(t, 2*time.Second, "a and b find each other", reported([]*node{a, b}, a, b))
	t.Logf("found each other %v after a started (re-join every 200 ms)", took)
}

// TestSilentSeedsDoNotHoldTheJoin: seeds that accept a connection and
// say nothing (stale addresses of nodes gone, say) cost one TCP timeout
// together, not one each: ten of them, each holding the join a second
// (the local profile's TCPTimeout), do not keep a node from the live
// seed beside them for ten seconds.
func TestSilentSeedsDoNotHoldTheJoin(t *testing.T) {
	a := start(t, "a", nil, nil)
	var seeds []string
	for range 10 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lis.Close() })
		go func() {
			for {
				c, err := lis.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		seeds = append(seeds, lis.Addr().String())
	}
	begin := time.Now()
	b := start(t, "b", append(seeds, a.LocalAddr()), nil)
	took := time.Since(begin)
	if len(b.Members()) < 2 {
		t.Fatalf("b sees %d members after its join", len(b.Members()))
	}
	if took > 7*time.Second {
		t.Fatalf("the join took %v: the silent seeds were tried one after another", took)
	}
	t.Logf("joined past 10 silent seeds in %v", took.Round(time.Millisecond))
}
