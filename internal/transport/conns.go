package transport

import (
	"net"
	"sync"
	"time"
)

// Bounds of the connections a transport serves at once: from one host,
// and in all. A node serves one connection per peer, and a few more while
// peers reconnect; the bounds leave room for hundreds of nodes on one
// host and stop one that opens connections without end (before any TLS
// handshake, so also one that holds no certificate).
const (
	DefaultMaxConnsPerHost = 256
	DefaultMaxConns        = 4096
	// DefaultIdleConn is how long a connection may carry no stream.
	DefaultIdleConn = time.Minute
)

// connLimiter is a listener that closes, as soon as it accepts them, the
// connections past its bounds: perHost from one remote host, total in all.
type connLimiter struct {
	net.Listener
	perHost, total int
	// refused is told of each connection closed for a bound.
	refused func(host string, open int)

	mu    sync.Mutex // guards open, all
	open  map[string]int
	count int
}

func limitConns(lis net.Listener, perHost, total int, refused func(host string, open int)) *connLimiter {
	return &connLimiter{Listener: lis, perHost: perHost, total: total, refused: refused, open: map[string]int{}}
}

// Accept returns the next connection within the bounds.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := limitKey(c.RemoteAddr())
		l.mu.Lock()
		n := l.open[host]
		ok := n < l.perHost && l.count < l.total
		if ok {
			l.open[host]++
			l.count++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, l: l, host: host}, nil
		}
		_ = c.Close()
		l.refused(host, n)
	}
}

func (l *connLimiter) release(host string) {
	l.mu.Lock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
	l.count--
	l.mu.Unlock()
}

// limitKey is the host a connection counts against: its IP, or for IPv6
// its /64, which one host may hold whole.
func limitKey(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok || t.IP.To4() != nil || len(t.IP) != net.IPv6len {
		return hostOf(a)
	}
	return t.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// limitedConn gives its place back to its limiter when closed, once.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}
