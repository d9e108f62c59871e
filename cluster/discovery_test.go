package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh/internal/dnstest"
)

func TestDNSValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"_gossip._tcp.mesh.default.svc.cluster.local", true},
		{"_gossip._tcp.mesh.default.svc.cluster.local.", true},
		{"mesh.default.svc.cluster.local:7946", true},
		{"mesh-gossip:7946", true},
		{"mesh", true},
		{"", false},
		{":7946", false},
		{"mesh.local:0", false},
		{"mesh.local:65536", false},
		{"mesh.local:-1", false},
		{"mesh.local:port", false},
		{"mesh.local:7946:1", false},
		{"10.0.0.1:7946", false},
		{"[::1]:7946", false},
		{"::1", false},
		{"mesh..local", false},
		{".mesh", false},
		{"-mesh.local", false},
		{"mesh-.local", false},
		{"me sh.local", false},
		{"mesh.local/x", false},
		{"mésh.local", false},
		{strings.Repeat("a", 64) + ".local", false},
		{strings.Repeat("a.", 127) + "ab", false},
		{strings.Repeat("a.", 126) + "a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&DNS{Name: tc.name}).Validate()
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidDNSName) {
				t.Fatalf("got %v, want ErrInvalidDNSName", err)
			}
			if _, err2 := (&DNS{Name: tc.name}).Seeds(context.Background()); !tc.ok && !errors.Is(err2, ErrInvalidDNSName) {
				t.Fatalf("Seeds got %v, want ErrInvalidDNSName", err2)
			}
		})
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestDNSSeeds(t *testing.T) {
	srv := dnstest.Start(t)
	srv.SetA("a.test.", addr("10.0.0.1"), addr("10.0.0.2"), addr("fd00::1"))
	srv.SetA("b.test.", addr("10.0.0.3"))
	srv.SetA("junk.test.", addr("0.0.0.0"), addr("::"), addr("224.0.0.1"), addr("ff02::1"), addr("255.255.255.255"), addr("10.0.0.9"))
	srv.SetA("empty.test.")
	srv.SetSRV("_g._tcp.test.",
		dnstest.SRV{Target: "a.test.", Port: 7000},
		dnstest.SRV{Target: "b.test.", Port: 7001},
		dnstest.SRV{Target: "b.test.", Port: 7001}, // duplicate
		dnstest.SRV{Target: "b.test.", Port: 0},    // no port
		dnstest.SRV{Target: "nowhere.test.", Port: 7002},
		dnstest.SRV{Target: ".", Port: 7003}, // "no such service"
	)
	srv.SetSRV("_bad._tcp.test.", dnstest.SRV{Target: "nowhere.test.", Port: 7000}, dnstest.SRV{Target: "b.test.", Port: 0})
	srv.SetSRV("_badname._tcp.test.", dnstest.SRV{Target: "in valid!.test.", Port: 7000}, dnstest.SRV{Target: "b.test.", Port: 7005})
	srv.SetSRV("_fail._tcp.test.", dnstest.SRV{Target: "failing.test.", Port: 7000})
	srv.Fail("failing.test.")
	srv.Fail("servfail.test.")
	srv.Garbage("garbage.test.")
	var many []netip.Addr
	for i := range 200 {
		many = append(many, netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)}))
	}
	srv.SetA("many.test.", many...)

	for _, tc := range []struct {
		name    string
		want    []string
		wantErr bool
	}{
		{"a.test.:7946", []string{"10.0.0.1:7946", "10.0.0.2:7946", "[fd00::1]:7946"}, false},
		{"junk.test.:7946", []string{"10.0.0.9:7946"}, false},
		{"empty.test.:7946", nil, false},
		{"missing.test.:7946", nil, false},
		{"_g._tcp.test.", []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7001", "[fd00::1]:7000"}, false},
		{"_bad._tcp.test.", nil, false},
		{"_badname._tcp.test.", []string{"10.0.0.3:7005"}, false},
		{"_missing._tcp.test.", nil, false},
		{"_fail._tcp.test.", nil, true},
		{"servfail.test.:7946", nil, true},
		{"garbage.test.:7946", nil, true},
		{"garbage.test.", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A resolver waits out its timeout for an answer it can read:
			// garbage costs the whole of ctx.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := (&DNS{Name: tc.name, Resolver: srv.Resolver()}).Seeds(ctx)
			if tc.wantErr {
				var de *net.DNSError
				if !errors.As(err, &de) {
					t.Fatalf("got %v, %v; want a *net.DNSError", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	// 200 A records: more than a UDP answer holds (the resolver asks
	// again over TCP) and more than a lookup uses.
	seen := map[string]bool{}
	for range 5 {
		got, err := (&DNS{Name: "many.test.:7946", Resolver: srv.Resolver()}).Seeds(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != MaxDNSSeeds {
			t.Fatalf("%d seeds, want %d", len(got), MaxDNSSeeds)
		}
		for _, s := range got {
			seen[s] = true
		}
	}
	if len(seen) <= MaxDNSSeeds {
		t.Fatalf("five lookups used the same %d of 200 addresses: no other is ever tried", len(seen))
	}
}

// TestDiscoveryJoins starts three members that know no seeds but an SRV
// name, which lists nobody at first, as a Kubernetes headless service
// before its pods have addresses: they find each other once the records
// appear. A fourth member that knows nobody, listed later, is joined by
// the others' re-join rounds, and records that point at nothing, at
// garbage or at a failing server do not get in the way.
func TestDiscoveryJoins(t *testing.T) {
	srv := dnstest.Start(t)
	const name = "_gossip._tcp.mesh.test."
	discover := func(c *Config) {
		c.Discovery = &DNS{Name: name, Resolver: srv.Resolver()}
		c.RejoinInterval = time.Second
	}
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, start(t, fmt.Sprintf("n%d", i), nil, discover))
	}
	for _, n := range nodes {
		if d := n.Discovered(); !d.Answered || d.Self || d.Err != nil || len(d.Seeds) != 0 {
			t.Fatalf("%s before any record: %+v", n.name, d)
		}
	}
	publish := func(nodes []*node, extra ...dnstest.SRV) {
		records := extra
		for _, n := range nodes {
			host, port, _ := net.SplitHostPort(n.LocalAddr())
			p, _ := strconv.Atoi(port)
			srv.SetA(n.name+".mesh.test.", addr(host))
			records = append(records, dnstest.SRV{Target: n.name + ".mesh.test.", Port: uint16(p)})
		}
		srv.SetSRV(name, records...)
	}
	srv.SetA("dead.mesh.test.", addr("127.0.0.1"))
	srv.Garbage("garbage.mesh.test.")
	srv.Fail("failing.mesh.test.")
	junk := []dnstest.SRV{
		{Target: "dead.mesh.test.", Port: uint16(freePort(t))}, // nothing listens
		{Target: "garbage.mesh.test.", Port: 7000},
		{Target: "failing.mesh.test.", Port: 7000},
		{Target: "nowhere.mesh.test.", Port: 7000},
	}
	publish(nodes, junk...)
	took := waitFor(t, 20*time.Second, "three members found through DNS", reported(nodes, nodes...))
	t.Logf("three members found each other %v after their records appeared", took)
	for _, n := range nodes {
		// dead.mesh.test resolves; garbage, failing and nowhere do not.
		if d := n.Discovered(); !d.Self || d.Err != nil || len(d.Seeds) != 3 {
			t.Fatalf("%s: %+v", n.name, d)
		}
	}

	// A fourth member that is told of nobody: only the others' re-join
	// rounds, looking the name up again, can find it.
	fourth := start(t, "n3", nil, nil)
	for _, n := range nodes {
		if ms := n.Members(); len(ms) != 3 {
			t.Fatalf("%s sees %v before n3 is listed", n.name, names(ms))
		}
	}
	all := append(slices.Clone(nodes), fourth)
	publish(all, junk...)
	took = waitFor(t, 20*time.Second, "four members", reported(all, all...))
	t.Logf("n3 joined %v after its record appeared (re-join every second)", took)

	// A name that now fails, then answers garbage, is logged and retried;
	// the members stay.
	srv.Fail(name)
	waitFor(t, 20*time.Second, "a failed lookup", func() error {
		if d := nodes[0].Discovered(); d.Err == nil {
			return errors.New("no failure recorded yet")
		}
		return nil
	})
	if err := reported(all, all...)(); err != nil {
		t.Fatal(err)
	}
}

// FuzzDNSName: any name either is refused with ErrInvalidDNSName or
// splits into a name of at most 253 bytes and a port that is 0 (SRV) or
// valid, without a panic.
func FuzzDNSName(f *testing.F) {
	for _, s := range []string{"_gossip._tcp.mesh.default.svc.cluster.local", "mesh:7946", "[::1]:1", "a..b", ":", "a:b:c", "x.\x00:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		host, port, err := parseDNSName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidDNSName) {
				t.Fatalf("%q: %v", name, err)
			}
			return
		}
		if host == "" || len(strings.TrimSuffix(host, ".")) > 253 || port < 0 || port > 65535 {
			t.Fatalf("%q accepted as %q port %d", name, host, port)
		}
		if _, err := netip.ParseAddr(host); err == nil {
			t.Fatalf("%q accepted an address", name)
		}
	})
}

// countingHandler counts the records logged at Warn and above.
type countingHandler struct {
	mu    sync.Mutex // guards warns
	warns []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns = append(h.warns, r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, w := range h.warns {
		if strings.Contains(w, substr) {
			n++
		}
	}
	return n
}

// TestDiscoveryFailingAtStart: a member whose DNS server fails starts
// all the same, alone, logs the failure at most once per RejoinInterval
// while its fast rounds retry, and joins once the name answers.
func TestDiscoveryFailingAtStart(t *testing.T) {
	srv := dnstest.Start(t)
	const name = "_gossip._tcp.mesh.test."
	srv.Fail(name)
	logs := &countingHandler{}
	const interval = 2 * time.Second
	// From before a starts: its first lookup, which fails, is at Join.
	began := time.Now()
	a := start(t, "a", nil, func(c *Config) {
		c.Discovery = &DNS{Name: name, Resolver: srv.Resolver()}
		c.RejoinInterval = interval
		c.Logger = slog.New(logs)
	})
	if d := a.Discovered(); d.Answered || d.Err == nil {
		t.Fatalf("after a failed lookup: %+v", d)
	}
	b := start(t, "b", nil, nil)
	waitFor(t, 10*time.Second, "three lookups", func() error {
		if q := srv.Queries(); q < 3 {
			return fmt.Errorf("%d queries", q)
		}
		return nil
	})
	time.Sleep(interval + interval/2)
	failed := logs.count("seeds lookup failed")
	if most := int(time.Since(began)/interval) + 1; failed < 1 || failed > most {
		t.Fatalf("%d warnings of a failed lookup in %v; want 1 to %d", failed, time.Since(began).Round(time.Millisecond), most)
	}
	host, port, _ := net.SplitHostPort(b.LocalAddr())
	p, _ := strconv.Atoi(port)
	srv.SetA("b.mesh.test.", addr(host))
	srv.Delete(name)
	srv.SetSRV(name, dnstest.SRV{Target: "b.mesh.test.", Port: uint16(p)})
	waitFor(t, 20*time.Second, "a to join b", reported([]*node{a, b}, a, b))
}

// BenchmarkDNSSeeds measures one lookup against a server on loopback: an
// A name of 32 addresses, and an SRV name of 32 targets (one more lookup
// per target, run in parallel).
func BenchmarkDNSSeeds(b *testing.B) {
	srv := dnstest.Start(b)
	var addrs []netip.Addr
	var srvs []dnstest.SRV
	for i := range MaxDNSSeeds {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		addrs = append(addrs, a)
		target := fmt.Sprintf("pod-%d.mesh.test.", i)
		srv.SetA(target, a)
		srvs = append(srvs, dnstest.SRV{Target: target, Port: 7946})
	}
	srv.SetA("mesh.test.", addrs...)
	srv.SetSRV("_gossip._tcp.mesh.test.", srvs...)
	for _, name := range []string{"mesh.test.:7946", "_gossip._tcp.mesh.test."} {
		b.Run(name, func(b *testing.B) {
			d := &DNS{Name: name, Resolver: srv.Resolver()}
			b.ReportAllocs()
			for b.Loop() {
				seeds, err := d.Seeds(context.Background())
				if err != nil || len(seeds) != MaxDNSSeeds {
					b.Fatalf("%d seeds, %v", len(seeds), err)
				}
			}
		})
	}
}
