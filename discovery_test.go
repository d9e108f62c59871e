package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/internal/dnstest"
)

// sharedPort returns a port free for TCP and UDP on every one of hosts,
// as every pod of a StatefulSet gossips on the same port of its own
// address.
func sharedPort(t *testing.T, hosts ...string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", hosts[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		free := true
		for _, h := range hosts {
			addr := net.JoinHostPort(h, strconv.Itoa(port))
			tl, terr := net.Listen("tcp", addr)
			ul, uerr := net.ListenPacket("udp", addr)
			if tl != nil {
				_ = tl.Close()
			}
			if ul != nil {
				_ = ul.Close()
			}
			if terr != nil || uerr != nil {
				free = false
				break
			}
		}
		if free {
			return port
		}
	}
	t.Fatal("no port free on every host")
	return 0
}

// TestSeedsDNS runs nodes as the pods of a Kubernetes StatefulSet behind a
// headless service: each on its own address (127.0.0.1-4) and the same
// gossip port, told only the service's DNS name, whose A records appear
// after the pods start. They find each other through DNS alone, are not
// ready before their own record appears, and are once they converge; a
// fourth node that knows nobody is joined by the others' re-join rounds
// once it is listed; records of nothing listening, unusable addresses and
// a failing server do not stop them.
func TestSeedsDNS(t *testing.T) {
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}
	port := sharedPort(t, hosts...)
	srv := dnstest.Start(t)
	name := "mesh.test.:" + strconv.Itoa(port)
	var nodes []*mesh.Node
	for i, h := range hosts[:3] {
		nodes = append(nodes, startNodeWith(t, fmt.Sprintf("pod-%d", i), nil, func(cfg *mesh.Config) {
			cfg.GossipAddr = net.JoinHostPort(h, strconv.Itoa(port))
			cfg.RemoteAddr = h + ":0"
			cfg.SeedsDNS, cfg.Resolver = name, srv.Resolver()
			cfg.RejoinInterval = time.Second
		}, echo(fmt.Sprintf("pod-%d", i))))
	}
	for _, n := range nodes {
		if len(n.Members()) != 1 {
			t.Fatalf("%s sees %d members before any record exists", n.Name(), len(n.Members()))
		}
		if err := n.Ready(context.Background()); !errors.Is(err, mesh.ErrNotReady) || !strings.Contains(err.Error(), "does not list this node") {
			t.Fatalf("%s ready before its record exists: %v", n.Name(), err)
		}
	}
	records := []netip.Addr{
		netip.MustParseAddr("127.0.0.9"), // nothing listens there
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("224.0.0.1"), netip.MustParseAddr("::"),
	}
	publish := func(n int) {
		addrs := append([]netip.Addr(nil), records...)
		for _, h := range hosts[:n] {
			addrs = append(addrs, netip.MustParseAddr(h))
		}
		srv.SetA("mesh.test.", addrs...)
	}
	publish(3)
	waitFor(t, 20*time.Second, "three nodes ready", func() bool {
		for _, n := range nodes {
			if n.Ready(context.Background()) != nil {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		if len(n.Members()) != 3 {
			t.Fatalf("%s ready with %d members", n.Name(), len(n.Members()))
		}
		if n.RoutingVersion() != nodes[0].RoutingVersion() {
			t.Fatalf("%s ready with another placement", n.Name())
		}
	}
	call(t, nodes[0], "echo", "a", "hi")

	fourth := startNodeWith(t, "pod-3", nil, func(cfg *mesh.Config) {
		cfg.GossipAddr = net.JoinHostPort(hosts[3], strconv.Itoa(port))
		cfg.RemoteAddr = hosts[3] + ":0"
	}, echo("pod-3"))
	publish(4)
	waitOffering(t, nodes[0], "echo", 4)
	waitConverged(t, append(nodes, fourth)...)

	// The name fails now: the nodes keep their cluster and stay ready.
	srv.Fail("mesh.test.")
	time.Sleep(1500 * time.Millisecond) // a re-join round with the failure
	for _, n := range nodes {
		if err := n.Ready(context.Background()); err != nil || len(n.Members()) != 4 {
			t.Fatalf("%s after DNS failed: ready %v, %d members", n.Name(), err, len(n.Members()))
		}
	}
}

// TestReady: a node alone is ready once its placement settles; a node
// that joins it is ready only once both route by the same placement; a
// node is not ready from the moment it drains.
func TestReady(t *testing.T) {
	first := startNode(t, "first", nil, echo("first"))
	waitFor(t, 10*time.Second, "a node alone to be ready", func() bool { return first.Ready(context.Background()) == nil })
	second := startNode(t, "second", []string{first.GossipAddr()}, echo("second"))
	waitFor(t, 10*time.Second, "the second node to be ready", func() bool { return second.Ready(context.Background()) == nil })
	if len(first.Members()) != 2 || first.RoutingVersion() != second.RoutingVersion() {
		t.Fatalf("second ready while first sees %d members and routes by %x, second by %x",
			len(first.Members()), first.RoutingVersion(), second.RoutingVersion())
	}
	if err := second.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := second.Ready(context.Background()); !errors.Is(err, mesh.ErrNotReady) || !strings.Contains(err.Error(), "draining") {
		t.Fatalf("drained node: %v, want ErrNotReady (draining)", err)
	}
	if err := first.Ready(context.Background()); err != nil {
		t.Fatalf("the node that stays is not ready while the other drains: %v", err)
	}
}

// TestSeedsDNSValidated: names that are no DNS name are refused at Start.
func TestSeedsDNSValidated(t *testing.T) {
	for _, bad := range []string{"10.0.0.1:7946", "mesh.local:0", "me sh", strings.Repeat("a", 64), "mesh.local:x"} {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.SeedsDNS = "n", bad
		if n, err := mesh.Start(context.Background(), cfg); !errors.Is(err, mesh.ErrInvalidConfig) {
			if n != nil {
				_ = n.Close(context.Background())
			}
			t.Errorf("SeedsDNS %q: %v, want ErrInvalidConfig", bad, err)
		}
	}
}
