package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/certs"
	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// authority is a test CA.
type authority struct {
	t  *testing.T
	ca *certs.Authority
}

func newAuthority(t *testing.T) authority {
	t.Helper()
	ca, err := certs.NewAuthority("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return authority{t, ca}
}

// cert returns a certificate naming node, for 127.0.0.1.
func (a authority) cert(node string) tls.Certificate {
	a.t.Helper()
	certPEM, keyPEM, err := a.ca.Issue(node, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// config returns a mutual-TLS configuration with a certificate naming
// node.
func (a authority) config(node string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(a.ca.Certificate())
	return &tls.Config{
		Certificates: []tls.Certificate{a.cert(node)},
		RootCAs:      pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13,
	}
}

// secureNode starts a transport named name with TLS from ca.
func secureNode(t *testing.T, ca authority, name string, opts Options) *node {
	t.Helper()
	opts.TLS, opts.Name = ca.config(name), name
	return newNode(t, "127.0.0.1:0", opts)
}

func member(name string, n *node) Member { return Member{Name: name, Addr: n.t.Addr()} }

// TestTLSPeersTalkInTheirOwnNames: two members whose certificates name
// them exchange a request and its reply.
func TestTLSPeersTalkInTheirOwnNames(t *testing.T) {
	ca := newAuthority(t)
	a, b := secureNode(t, ca, "a", Options{}), secureNode(t, ca, "b", Options{})
	a.t.SetMembers([]Member{member("b", b)})
	b.t.SetMembers([]Member{member("a", a)})
	sender := &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 4}
	a.system.Root.RequestWithCustomSender(b.pid("inbox"), &wire.Ping{Sent: 1}, sender)
	got := b.next(t)
	b.system.Root.Send(got.sender, &wire.Pong{Node: "b"})
	if rep := a.next(t); rep.pid.RequestId != 4 || rep.msg.(*wire.Pong).GetNode() != "b" {
		t.Fatalf("reply %v to %v", rep.msg, rep.pid)
	}
	if a.t.Delivered() != 1 || b.t.Delivered() != 1 || a.t.Refused()+b.t.Refused() != 0 {
		t.Fatalf("delivered %d and %d, refused %d and %d; want 1, 1, 0, 0",
			a.t.Delivered(), b.t.Delivered(), a.t.Refused(), b.t.Refused())
	}
}

// rawStream sends msgs to addr on one stream, with a client certificate
// naming node, and returns how the stream ended.
func rawStream(t *testing.T, addr string, cfg *tls.Config, msgs ...*Message) error {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := NewTransportClient(conn).Stream(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&Frame{Messages: msgs}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

// TestTLSStreamsAreAdmittedByName: a peer's stream is refused with
// PermissionDenied, before anything it sent is delivered, when its
// certificate names this node, or it sends in the name of this node or of
// another member, or hands off or answers pings in another's name: at
// once, whatever MemberWait. A peer that is no member, or sends from an
// address that is no member's, is refused after MemberWait, and admitted
// if SetMembers names it so before.
func TestTLSStreamsAreAdmittedByName(t *testing.T) {
	ca := newAuthority(t)
	const wait = 300 * time.Millisecond
	b := secureNode(t, ca, "b", Options{MemberWait: wait})
	a, c := secureNode(t, ca, "a", Options{}), secureNode(t, ca, "c", Options{})
	b.t.SetMembers([]Member{member("a", a), member("c", c)})
	ping := func(from string) *Message {
		return &Message{Target: "inbox", SenderAddress: from, SenderId: "inbox", Body: &Message_Ping{Ping: &wire.Ping{}}}
	}
	for _, tc := range []struct {
		name, cert string
		msg        *Message
		later      bool // refused after MemberWait, not at once
	}{
		{"this node's certificate", "b", &Message{Target: "inbox", Body: &Message_Ping{Ping: &wire.Ping{}}}, false},
		{"as another member", "c", ping(a.t.Addr()), false},
		{"as this node", "c", ping(b.t.Addr()), false},
		{"handoff in another's name", "c", &Message{Target: "inbox", Body: &Message_Handoff{Handoff: &wire.Handoff{From: "a"}}}, false},
		{"pong in another's name", "c", &Message{Target: "inbox", Body: &Message_Pong{Pong: &wire.Pong{Node: "a"}}}, false},
		{"no member", "mallory", &Message{Target: "inbox", Body: &Message_Ping{Ping: &wire.Ping{}}}, true},
		{"from no member's address", "c", ping("127.0.0.1:1"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := rawStream(t, b.t.Addr(), ca.config(tc.cert), tc.msg)
			took := time.Since(start)
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("the stream ended with %v, want PermissionDenied", err)
			}
			if tc.later && took < wait {
				t.Fatalf("refused after %v, before MemberWait (%v)", took, wait)
			}
			if !tc.later && took >= wait {
				t.Fatalf("refused after %v, not at once", took)
			}
		})
	}
	if n := b.t.Delivered(); n != 0 {
		t.Fatalf("%d refused messages were delivered", n)
	}

	// A member in its own name; one SetMembers names while it waits; one
	// whose new address SetMembers gives while it waits.
	if err := rawStream(t, b.t.Addr(), ca.config("c"), ping(c.t.Addr())); err != nil {
		t.Fatalf("c in its own name: %v", err)
	}
	b.next(t)
	for _, tc := range []struct {
		name, cert, from string
		members          []Member
	}{
		{"joining", "d", "127.0.0.1:4", []Member{member("a", a), member("c", c), {Name: "d", Addr: "127.0.0.1:4"}}},
		{"moved", "c", "127.0.0.1:5", []Member{member("a", a), {Name: "c", Addr: "127.0.0.1:5"}}},
	} {
		time.AfterFunc(wait/3, func() { b.t.SetMembers(tc.members) })
		if err := rawStream(t, b.t.Addr(), ca.config(tc.cert), ping(tc.from)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := b.next(t); got.sender.Address != tc.from {
			t.Fatalf("%s: received from %v", tc.name, got.sender)
		}
	}
	if n := b.t.Delivered(); n != 3 {
		t.Fatalf("delivered %d, want the 3 admitted", n)
	}
}

// TestTLSDialsOnlyTheMemberNamed: a transport that dials member b and
// finds a server whose certificate, of the same CA, names m there sends
// it nothing, answers the request with a dead letter, and logs it.
func TestTLSDialsOnlyTheMemberNamed(t *testing.T) {
	ca := newAuthority(t)
	logs := &lines{}
	a := secureNode(t, ca, "a", Options{Logger: slog.New(logs)})
	m := secureNode(t, ca, "m", Options{})
	a.t.SetMembers([]Member{{Name: "b", Addr: m.t.Addr()}})
	m.t.SetMembers([]Member{member("a", a)})
	for range 3 {
		a.system.Root.RequestWithCustomSender(pa.NewPID(m.t.Addr(), "inbox"), &wire.Ping{},
			&pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 8})
		if got := a.next(t); got.pid.RequestId != 8 {
			t.Fatalf("got %T to %v, want a dead letter to request 8", got.msg, got.pid)
		}
	}
	if m.t.Delivered() != 0 {
		t.Fatalf("the server named m received %d messages meant for b", m.t.Delivered())
	}
	if a.t.Refused() == 0 || logs.count("refused a server that is not the member at its address") != 1 {
		t.Fatalf("refused %d servers, logged %d times; want some, logged once",
			a.t.Refused(), logs.count("refused a server"))
	}
}

// TestTLSCertificatesPickedPerHandshakeMustNameTheNode: a certificate that
// GetCertificate or GetClientCertificate returns is checked at every
// handshake: one of another node fails it, and nothing is delivered.
func TestTLSCertificatesPickedPerHandshakeMustNameTheNode(t *testing.T) {
	ca := newAuthority(t)
	dynamic := func(name, gives string) Options {
		cfg := ca.config(name)
		cert := ca.cert(gives)
		cfg.Certificates = nil
		cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		return Options{TLS: cfg, Name: name}
	}
	for _, tc := range []struct {
		name         string
		client, serv Options
		ok           bool
	}{
		{"own certificates", dynamic("a", "a"), dynamic("b", "b"), true},
		{"client gives another's", dynamic("a", "x"), dynamic("b", "b"), false},
		{"server gives another's", dynamic("a", "a"), dynamic("b", "x"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newNode(t, "127.0.0.1:0", tc.client), newNode(t, "127.0.0.1:0", tc.serv)
			a.t.SetMembers([]Member{member("b", b)})
			b.t.SetMembers([]Member{member("a", a)})
			a.system.Root.RequestWithCustomSender(b.pid("inbox"), &wire.Ping{}, &pa.PID{Address: a.t.Addr(), Id: "inbox", RequestId: 1})
			if tc.ok {
				b.next(t)
				return
			}
			if got := a.next(t); fmt.Sprintf("%T", got.msg) != "*actor.DeadLetterResponse" {
				t.Fatalf("got %T, want a dead letter", got.msg)
			}
			if n := b.t.Delivered(); n != 0 {
				t.Fatalf("%d messages delivered", n)
			}
			if tc.name != "server gives another's" {
				return
			}
			// Nor does a client that does not check whom it dials get
			// through: the server itself refuses to serve with the
			// certificate of another node.
			ping := &Message{Target: "inbox", SenderAddress: a.t.Addr(), SenderId: "inbox", Body: &Message_Ping{Ping: &wire.Ping{}}}
			if err := rawStream(t, b.t.Addr(), ca.config("a"), ping); err == nil {
				t.Fatal("a stream of a's was taken")
			}
			if n := b.t.Delivered(); n != 0 {
				t.Fatalf("%d messages delivered", n)
			}
		})
	}
}

// TestValidateTLS: configurations that would not verify peers, or whose
// certificate does not name the node, are refused.
func TestValidateTLS(t *testing.T) {
	ca := newAuthority(t)
	if err := ValidateTLS(ca.config("a"), "a"); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	get := func(c *tls.Config) {
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	}
	for name, edit := range map[string]func(*tls.Config){
		"another node's certificate": func(c *tls.Config) { c.Certificates = append(c.Certificates, ca.cert("b")) },
		"a certificate of no node": func(c *tls.Config) {
			c.Certificates = []tls.Certificate{{Certificate: [][]byte{ca.ca.Certificate().Raw}}}
		},
		"no certificate":                  func(c *tls.Config) { c.Certificates = nil },
		"GetCertificate only":             func(c *tls.Config) { c.Certificates = nil; get(c) },
		"client certificates not checked": func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert },
		"InsecureSkipVerify":              func(c *tls.Config) { c.InsecureSkipVerify = true },
		"no ClientCAs":                    func(c *tls.Config) { c.ClientCAs = nil },
		"no RootCAs":                      func(c *tls.Config) { c.RootCAs = nil },
		"GetConfigForClient": func(c *tls.Config) {
			c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }
		},
	} {
		c := ca.config("a")
		edit(c)
		if err := ValidateTLS(c, "a"); !errors.Is(err, ErrTLSConfig) {
			t.Errorf("%s: %v, want ErrTLSConfig", name, err)
		}
		if _, err := Listen("127.0.0.1:0", Options{TLS: c, Name: "a"}); !errors.Is(err, ErrTLSConfig) {
			t.Errorf("Listen with %s: %v, want ErrTLSConfig", name, err)
		}
	}
}

// TestARefusedPeerBacksOff: a node whose stream a peer refuses does not
// reopen it in a tight loop while messages keep coming.
func TestARefusedPeerBacksOff(t *testing.T) {
	ca := newAuthority(t)
	a, b := secureNode(t, ca, "a", Options{}), secureNode(t, ca, "b", Options{})
	a.t.SetMembers([]Member{member("b", b)})
	// b has another member at a's address: a's messages are refused at
	// once.
	b.t.SetMembers([]Member{{Name: "x", Addr: a.t.Addr()}})
	sender := &pa.PID{Address: a.t.Addr(), Id: "inbox"}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		_ = a.t.Send(b.pid("inbox"), &wire.Ping{}, sender)
		time.Sleep(2 * time.Millisecond)
	}
	if n := b.t.Refused(); n == 0 || n > 15 {
		t.Fatalf("b refused %d streams in a second of sends every 2 ms; want a few (backoff)", n)
	}
	if n := b.t.Delivered(); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

// TestLogLimit: a key's line is let through once a minute, with the count
// of lines held back since; past maxLogKeys keys the others share a line.
func TestLogLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLogLimit()
	l.now = func() time.Time { return now }
	if ok, _, _ := l.allow("a"); !ok {
		t.Fatal("first line held back")
	}
	for range 5 {
		if ok, _, _ := l.allow("a"); ok {
			t.Fatal("a second line within a minute let through")
		}
	}
	if ok, _, _ := l.allow("b"); !ok {
		t.Fatal("another key's first line held back")
	}
	now = now.Add(logEvery)
	if ok, _, held := l.allow("a"); !ok || held != 5 {
		t.Fatalf("a minute later: %v with %d held, want let through with 5", ok, held)
	}

	l = newLogLimit()
	l.now = func() time.Time { return now }
	for i := range maxLogKeys {
		if ok, as, _ := l.allow(fmt.Sprint("k", i)); !ok || as != fmt.Sprint("k", i) {
			t.Fatalf("key %d of %d: %v as %q", i, maxLogKeys, ok, as)
		}
	}
	ok, as, _ := l.allow("one too many")
	if !ok || as != otherPeers {
		t.Fatalf("past %d keys: %v as %q, want let through as %q", maxLogKeys, ok, as, otherPeers)
	}
	if ok, _, _ := l.allow("yet another"); ok {
		t.Fatal("a second line of the other peers within a minute let through")
	}
	if n := len(l.last); n > maxLogKeys+1 {
		t.Fatalf("%d keys kept, want at most %d", n, maxLogKeys+1)
	}
	now = now.Add(logEvery)
	if ok, as, _ := l.allow("yet another"); !ok || as != "yet another" {
		t.Fatalf("a minute later: %v as %q, want let through on its own (old keys dropped)", ok, as)
	}
}

// lines is a slog handler that keeps the messages it is given.
type lines struct {
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func (l *lines) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}
