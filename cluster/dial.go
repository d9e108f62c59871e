package cluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// transport is memberlist's own network transport with its TCP dials and
// streams bound by a context: cancelling it aborts a join in progress at
// once, where memberlist alone would wait out its TCP timeout on every
// seed that does not answer.
type transport struct {
	*memberlist.NetTransport
	ctx context.Context
	// cut, if set, reports the gossip addresses this node cannot reach:
	// packets to them are dropped and dials refused (Config.Cut).
	cut func(addr string) bool
}

// errCut reports a dial to an address Config.Cut cuts off.
var errCut = errors.New("cluster: address cut off")

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.cut != nil && t.cut(a.Addr) {
		return time.Now(), nil // lost on the way
	}
	return t.NetTransport.WriteToAddress(b, a)
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// newTransport binds gossip to addr:port the way memberlist does by
// default, retrying a few times when port 0 picked a port that is free for
// TCP but not for UDP.
func newTransport(ctx context.Context, addr string, port int, logger *log.Logger) (*transport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{addr}, BindPort: port, Logger: logger}
	tries := 1
	if port == 0 {
		tries = 10
	}
	var err error
	for range tries {
		var nt *memberlist.NetTransport
		if nt, err = memberlist.NewNetTransport(nc); err == nil {
			return &transport{NetTransport: nt, ctx: ctx}, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("bind %s: %w", net.JoinHostPort(addr, fmt.Sprint(port)), err)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.cut != nil && t.cut(addr) {
		return nil, fmt.Errorf("%w: %s", errCut, addr)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(t.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &boundConn{Conn: c, stop: context.AfterFunc(t.ctx, func() { _ = c.Close() })}, nil
}

// boundConn is a connection closed when its transport's context ends.
type boundConn struct {
	net.Conn
	stop func() bool
}

func (c *boundConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
