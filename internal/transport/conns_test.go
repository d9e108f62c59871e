package transport

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/meshrun/mesh/internal/wire"
)

// TestConnectionsPastTheBoundAreClosed: a host that opens connections
// without end is served up to the bound and closed past it, and a member
// still reaches the node; a connection closed gives its place back.
func TestConnectionsPastTheBoundAreClosed(t *testing.T) {
	a, b := pair(t, Options{MaxConnsPerHost: 5})
	addr := b.t.BoundAddr()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	// Every connection of this test comes from 127.0.0.1, as a's does:
	// four leave room for a's one. They speak HTTP/2, so that the
	// server's handshake deadline does not close them.
	for range 4 {
		held = append(held, dialHTTP2(t, addr))
	}
	if err := a.t.Send(b.pid("inbox"), &wire.Ping{Sent: 1}, nil); err != nil {
		t.Fatal(err)
	}
	b.next(t)
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if !closedByPeer(c) {
			t.Fatal("a connection past the bound was served")
		}
		_ = c.Close()
	}
	// The members' traffic goes on.
	if err := a.t.Send(b.pid("inbox"), &wire.Ping{Sent: 2}, nil); err != nil {
		t.Fatal(err)
	}
	b.next(t)
	// One place given back: a new connection is served (held open).
	_ = held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialHTTP2(t, addr)
		if !closedByPeer(c) {
			held = append(held, c)
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's place was not given back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And past the bound again.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !closedByPeer(c) {
		t.Fatal("a connection past the bound was served once a place was given back and taken")
	}
}

// TestIdleConnectionsAreClosed: a connection that speaks HTTP/2 but opens
// no stream is closed after IdleConn, so it cannot hold a place of the
// bounds for good.
func TestIdleConnectionsAreClosed(t *testing.T) {
	_, b := pair(t, Options{IdleConn: 300 * time.Millisecond})
	c := dialHTTP2(t, b.t.BoundAddr())
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("reading until the server closes: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("closed after %v, before IdleConn", took)
	}
}

// dialHTTP2 opens a connection to addr and sends the HTTP/2 client
// preface and an empty SETTINGS frame: a client that has done what the
// server's handshake deadline asks, and no more.
func dialHTTP2(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	if _, err := io.WriteString(c, preface); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedByPeer reports whether the server closed c within 300 ms, rather
// than serving it.
func closedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || err != nil
}

func TestLimitKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, "10.1.2.3"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 2}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 1}, "10.1.2.3"},
	} {
		if got := limitKey(tc.addr); got != tc.want {
			t.Errorf("limitKey(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
