// Package dnstest is a DNS server on loopback for tests of seed
// discovery: it serves A, AAAA and SRV records that a test changes while
// nodes run, failures and garbage, and gives a net.Resolver that asks
// only it.
//
// # Usage
//
//	srv := dnstest.Start(t)
//	srv.SetSRV("_gossip._tcp.mesh.test.", dnstest.SRV{Target: "node-1.mesh.test.", Port: 7946})
//	srv.SetA("node-1.mesh.test.", netip.MustParseAddr("127.0.0.1"))
//	cfg.Resolver = srv.Resolver()
//
// # Concurrency
//
// A Server is safe for concurrent use: records may change while it serves.
package dnstest

import (
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// SRV is one SRV record's target and port.
type SRV struct {
	Target string
	Port   uint16
}

// entry is what the server answers for one name.
type entry struct {
	addrs []netip.Addr
	srvs  []SRV
	// fail answers SERVFAIL; garbage answers random bytes.
	fail, garbage bool
}

// Server is a DNS server on 127.0.0.1, over UDP and TCP on one port.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.Mutex // guards entries, queries
	entries map[string]*entry
	queries int
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{entries: map[string]*entry{}}
	var pc net.PacketConn
	var l net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		t.Fatalf("dnstest: no port free for UDP and TCP: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	s.tcp = &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve)}
	var started sync.WaitGroup
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started.Add(1)
		srv.NotifyStartedFunc = started.Done
		go func() { _ = srv.ActivateAndServe() }()
	}
	started.Wait()
	t.Cleanup(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Resolver returns a resolver that sends every query to the server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, s.addr)
			if err != nil {
				return nil, err
			}
			// A lookup given up on keeps reading until the resolver's own
			// timeout (5 s), past the test's leak check: close its
			// connection once the exchange's ctx ends.
			context.AfterFunc(ctx, func() { _ = c.Close() })
			return c, nil
		},
	}
}

// Queries counts the queries the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// SetA makes name answer A and AAAA queries with addrs (none: the name
// exists without addresses).
func (s *Server) SetA(name string, addrs ...netip.Addr) {
	s.set(name, func(e *entry) { e.addrs = addrs })
}

// SetSRV makes name answer SRV queries with records.
func (s *Server) SetSRV(name string, records ...SRV) {
	s.set(name, func(e *entry) { e.srvs = records })
}

// Fail makes name answer SERVFAIL.
func (s *Server) Fail(name string) { s.set(name, func(e *entry) { e.fail = true }) }

// Garbage makes name answer random bytes.
func (s *Server) Garbage(name string) { s.set(name, func(e *entry) { e.garbage = true }) }

// Delete makes name answer NXDOMAIN, as a name never set does.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, dns.CanonicalName(name))
}

func (s *Server) set(name string, f func(*entry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = dns.CanonicalName(name)
	e := s.entries[name]
	if e == nil {
		e = &entry{}
		s.entries[name] = e
	}
	f(e)
}

func (s *Server) serve(w dns.ResponseWriter, r *dns.Msg) {
	defer func() { _ = w.Close() }()
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	s.mu.Lock()
	s.queries++
	var e entry
	found := false
	if p := s.entries[strings.ToLower(q.Name)]; p != nil {
		e, found = *p, true
	}
	s.mu.Unlock()
	switch {
	case !found:
		m.Rcode = dns.RcodeNameError
	case e.garbage:
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		_, _ = w.Write(b)
		return
	case e.fail:
		m.Rcode = dns.RcodeServerFailure
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 0}
	}
	if found && !e.fail {
		switch q.Qtype {
		case dns.TypeA:
			for _, a := range e.addrs {
				if a.Is4() {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
				}
			}
		case dns.TypeAAAA:
			for _, a := range e.addrs {
				if a.Is6() {
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
				}
			}
		case dns.TypeSRV:
			for _, r := range e.srvs {
				m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 10, Weight: 10, Port: r.Port, Target: r.Target})
			}
		}
	}
	// Over UDP, a long answer is truncated and the client asks again over
	// TCP, as with any server.
	if _, ok := w.LocalAddr().(*net.UDPAddr); ok {
		m.Truncate(dns.MinMsgSize)
	}
	_ = w.WriteMsg(m)
}
