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
	// four leave room for a's one.
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
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
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
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
}

// closedByPeer reports whether the server closed c within 300 ms of
// accepting it, rather than waiting for its handshake.
func closedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || err != nil
}
