package mesh_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/certs"
	"github.com/meshrun/mesh/internal/transport"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// testCA is a CA of a test cluster that writes its certificate and its
// nodes' certificates as PEM files, as `mesh certs` does.
type testCA struct {
	t      testing.TB
	ca     *certs.Authority
	dir    string
	caFile string
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	ca, err := certs.NewAuthority(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCA{t: t, ca: ca, dir: t.TempDir()}
	certPEM, _, err := ca.PEM()
	if err != nil {
		t.Fatal(err)
	}
	c.caFile = c.write("ca.crt", certPEM)
	return c
}

func (c *testCA) write(name string, data []byte) string {
	c.t.Helper()
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// files writes a certificate naming node, valid for 127.0.0.1, and its
// key.
func (c *testCA) files(node string) (certFile, keyFile string) {
	c.t.Helper()
	certPEM, keyPEM, err := c.ca.Issue(node, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.write(node+".crt", certPEM), c.write(node+".key", keyPEM)
}

// config is the TransportTLS of a node whose certificate names node.
func (c *testCA) config(node string) *tls.Config {
	c.t.Helper()
	certFile, keyFile := c.files(node)
	cfg, err := mesh.LoadTLS(c.caFile, certFile, keyFile)
	if err != nil {
		c.t.Fatal(err)
	}
	return cfg
}

// node configures a node with a certificate that names it.
func (c *testCA) node(cfg *mesh.Config) { cfg.TransportTLS = c.config(cfg.NodeName) }

// TestTransportTLS: nodes whose transport uses mutual TLS with one CA call
// each other; a node whose certificate another CA signed, or that speaks
// plaintext, gets no call through, and fails with a typed error by its
// deadline.
func TestTransportTLS(t *testing.T) {
	cluster := newTestCA(t, "cluster")
	a := startNodeWith(t, "a", nil, cluster.node, echo("a"))
	b := startNodeWith(t, "b", []string{a.GossipAddr()}, cluster.node, echo("b"))
	waitConverged(t, a, b)
	for _, owner := range []*mesh.Node{a, b} {
		id := idOwnedBy(t, a, "echo", owner.Name())
		if got := servedBy(mustCall(a, id)); got != owner.Name() {
			t.Fatalf("call to %s on %s over TLS: served by %q", id, owner.Name(), got)
		}
	}

	for name, edit := range map[string]func(*mesh.Config){
		"another CA": newTestCA(t, "intruder").node,
		"plaintext":  nil,
	} {
		t.Run(name, func(t *testing.T) {
			intruder := startNodeWith(t, "intruder-"+name[:3], []string{a.GossipAddr()}, edit)
			waitFor(t, 10*time.Second, "the intruder to see the members", func() bool { return len(intruder.Members()) >= 3 })
			id := idOwnedBy(t, intruder, "echo", b.Name())
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := intruder.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: wrapString("let me in")})
			if !errors.Is(err, mesh.ErrDeadlineExceeded) && !errors.Is(err, mesh.ErrUnreachable) {
				t.Fatalf("call without the cluster's certificate: %v, want a deadline or unreachable error", err)
			}
		})
	}
}

// recorded is what a slog handler of a test recorded: every record's
// message and attributes.
type recorded struct {
	mu    sync.Mutex // guards lines
	lines []map[string]string
}

func (r *recorded) handler() slog.Handler { return recordHandler{r: r} }

// count returns how many records have msg as their message's start and
// every attribute of want.
func (r *recorded) count(msg string, want map[string]string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		ok := strings.HasPrefix(l["msg"], msg)
		for k, v := range want {
			ok = ok && l[k] == v
		}
		if ok {
			n++
		}
	}
	return n
}

type recordHandler struct {
	r     *recorded
	attrs []slog.Attr
}

func (recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) Handle(_ context.Context, rec slog.Record) error {
	l := map[string]string{"msg": rec.Message, "level": rec.Level.String()}
	for _, a := range h.attrs {
		l[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool { l[a.Key] = a.Value.String(); return true })
	h.r.mu.Lock()
	h.r.lines = append(h.r.lines, l)
	h.r.mu.Unlock()
	return nil
}

func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordHandler{r: h.r, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h recordHandler) WithGroup(string) slog.Handler { return h }

// payloads records what the processes of its capability receive.
type payloads struct {
	mu  sync.Mutex // guards got
	got []string
}

func (p *payloads) capability() mesh.Capability {
	return mesh.Capability{Name: "echo", New: func(string) mesh.Process {
		return mesh.ProcessFunc(func(_ mesh.Context, msg proto.Message) (proto.Message, error) {
			p.mu.Lock()
			p.got = append(p.got, stringOf(msg))
			p.mu.Unlock()
			return msg, nil
		})
	}}
}

func (p *payloads) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// castRaw opens one stream to a node's transport at addr with creds, as a
// node would, and sends a cast of payload to (echo, id) in the name of a
// process at from. It returns how the stream ended: nil if the node took
// the frame.
func castRaw(t *testing.T, addr string, creds credentials.TransportCredentials, from, id, payload string) error {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := transport.NewTransportClient(conn).Stream(ctx)
	if err != nil {
		return err
	}
	typ, b, err := wire.Pack(wrapString(payload))
	if err != nil {
		t.Fatal(err)
	}
	env := &wire.Envelope{Capability: "echo", Id: id, Shard: shard.Of(id, shard.DefaultShards), Payload: b, PayloadType: typ, Cast: true}
	msg := &transport.Message{Target: "mesh-router", SenderAddress: from, SenderId: "caller",
		Body: &transport.Message_Envelope{Envelope: env}}
	if err := stream.Send(&transport.Frame{Messages: []*transport.Message{msg}}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

// TestTransportTLSRefusesWhoIsNotTheMemberItClaims: a client of a node's
// transport gets no message to its processes unless it holds a
// certificate of the cluster's CA naming a member and sends in that
// member's name: plaintext, no certificate and another CA's fail at the
// handshake; a certificate of this node, of a node that is no member, or
// of a member sending as another member or as this node is refused at the
// stream with PermissionDenied. Each refused peer is logged once, however
// often it tries.
func TestTransportTLSRefusesWhoIsNotTheMemberItClaims(t *testing.T) {
	cluster := newTestCA(t, "cluster")
	logs := &recorded{}
	got := &payloads{}
	a := startNodeWith(t, "a", nil, cluster.node)
	b := startNodeWith(t, "b", []string{a.GossipAddr()}, func(cfg *mesh.Config) {
		cluster.node(cfg)
		cfg.Logger = slog.New(logs.handler())
	}, got.capability())
	c := startNodeWith(t, "c", []string{a.GossipAddr()}, cluster.node)
	waitConverged(t, a, b, c)
	id := idOwnedBy(t, a, "echo", "b")

	withCert := func(ca *testCA, node string) credentials.TransportCredentials {
		return credentials.NewTLS(ca.config(node))
	}
	noCert := cluster.config("a")
	noCert.Certificates = nil

	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		from  string
		// handshake: refused at the TLS handshake; else at the stream.
		handshake bool
	}{
		{"plaintext", insecure.NewCredentials(), a.RemoteAddr(), true},
		{"no certificate", credentials.NewTLS(noCert), a.RemoteAddr(), true},
		{"another CA", withCert(newTestCA(t, "other"), "a"), a.RemoteAddr(), true},
		{"this node's certificate", withCert(cluster, "b"), a.RemoteAddr(), false},
		{"member c as member a", withCert(cluster, "c"), a.RemoteAddr(), false},
		{"member c as node b", withCert(cluster, "c"), b.RemoteAddr(), false},
		{"no member", withCert(cluster, "mallory"), "127.0.0.1:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := castRaw(t, b.RemoteAddr(), tc.creds, tc.from, id, tc.name)
			code := status.Code(err)
			switch {
			case !tc.handshake && code != codes.PermissionDenied:
				t.Fatalf("the stream ended with %v, want PermissionDenied", err)
			// Without a certificate the stream may open: TLS 1.3 ends the
			// client's handshake before the server checks its
			// certificate, and the server's alert then ends the stream.
			case tc.handshake && (err == nil || code == codes.PermissionDenied):
				t.Fatalf("the stream ended with %v, want a failed handshake", err)
			}
		})
	}
	// The same peers again: refused again, and not logged again.
	for range 3 {
		if err := castRaw(t, b.RemoteAddr(), withCert(cluster, "c"), a.RemoteAddr(), id, "again"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("c as a, again: %v, want PermissionDenied", err)
		}
		if err := castRaw(t, b.RemoteAddr(), insecure.NewCredentials(), a.RemoteAddr(), id, "again"); err == nil {
			t.Fatal("plaintext, again: the stream was taken")
		}
	}

	// The member that sends in its own name is heard: what the others sent
	// would have been too, before it.
	if err := castRaw(t, b.RemoteAddr(), withCert(cluster, "a"), a.RemoteAddr(), id, "a itself"); err != nil {
		t.Fatalf("a in its own name: %v", err)
	}
	waitFor(t, 5*time.Second, "a's cast to arrive", func() bool { return len(got.list()) > 0 })
	if l := got.list(); !slices.Equal(l, []string{"a itself"}) {
		t.Fatalf("b's process received %q, want only a's cast", l)
	}

	const refusedStream = "refused a peer's stream"
	for _, peer := range []string{"b", "c", "mallory"} {
		if n := logs.count(refusedStream, map[string]string{"peer": peer}); n != 1 {
			t.Errorf("refusals of a peer whose certificate names %s logged %d times, want once", peer, n)
		}
	}
	// Every handshake failure came from 127.0.0.1: one peer.
	if n := logs.count("refused a connection: TLS handshake failed", map[string]string{"remote": "127.0.0.1"}); n != 1 {
		t.Errorf("failed handshakes from 127.0.0.1 logged %d times, want once", n)
	}
}

// TestTransportTLSDialsOnlyTheNamedMember: a node that dials a member and
// finds at its address a server whose certificate, of the cluster's CA,
// names another node sends it nothing.
func TestTransportTLSDialsOnlyTheNamedMember(t *testing.T) {
	cluster := newTestCA(t, "cluster")
	impostor := newImpostor(t, cluster.config("mallory"))
	a := startNodeWith(t, "a", nil, cluster.node)
	// b gossips the impostor's address as its own: as if the impostor had
	// taken over b's address.
	b := startNodeWith(t, "b", []string{a.GossipAddr()}, func(cfg *mesh.Config) {
		cluster.node(cfg)
		cfg.RemoteAdvertiseAddr = impostor.addr
	}, echo("b"))
	waitConverged(t, a, b)
	id := idOwnedBy(t, a, "echo", "b")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := a.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: wrapString("for b")}); err == nil {
		t.Fatal("a call to b's address answered by another node's server succeeded")
	}
	if n := impostor.frames(); n != 0 {
		t.Fatalf("the impostor received %d frames", n)
	}
}

// impostor is a server of mesh's transport protocol that counts the frames
// it receives and delivers none.
type impostor struct {
	transport.UnimplementedTransportServer
	addr string
	mu   sync.Mutex // guards n
	n    int
}

func newImpostor(t *testing.T, cfg *tls.Config) *impostor {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	imp := &impostor{addr: lis.Addr().String()}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	transport.RegisterTransportServer(srv, imp)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return imp
}

func (imp *impostor) Stream(stream grpc.ClientStreamingServer[transport.Frame, transport.Done]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			return err
		}
		imp.mu.Lock()
		imp.n++
		imp.mu.Unlock()
	}
}

func (imp *impostor) frames() int {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	return imp.n
}

// TestTransportTLSConfigIsChecked: a node whose certificate does not name
// it, or whose TLS configuration would not verify its peers, is refused
// at Start with ErrInvalidConfig; LoadTLS refuses files that do not make
// a node's mutual-TLS configuration.
func TestTransportTLSConfigIsChecked(t *testing.T) {
	cluster, other := newTestCA(t, "cluster"), newTestCA(t, "other")
	for name, edit := range map[string]func(*tls.Config){
		"certificate of another node":  func(c *tls.Config) { c.Certificates = cluster.config("b").Certificates },
		"client certificates optional": func(c *tls.Config) { c.ClientAuth = tls.VerifyClientCertIfGiven },
		"servers not verified":         func(c *tls.Config) { c.InsecureSkipVerify = true },
		"system roots for clients":     func(c *tls.Config) { c.ClientCAs = nil },
		"system roots for servers":     func(c *tls.Config) { c.RootCAs = nil },
		"no certificate":               func(c *tls.Config) { c.Certificates = nil },
		"configuration per client": func(c *tls.Config) {
			c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mesh.DefaultLocalConfig()
			cfg.NodeName = "a"
			cfg.TransportTLS = cluster.config("a")
			edit(cfg.TransportTLS)
			n, err := mesh.Start(context.Background(), cfg)
			if err == nil {
				_ = n.Close(context.Background())
			}
			if !errors.Is(err, mesh.ErrInvalidConfig) {
				t.Fatalf("Start: %v, want ErrInvalidConfig", err)
			}
		})
	}

	certFile, keyFile := cluster.files("a")
	otherCert, _ := other.files("a")
	// A certificate that names no node: a CA's own.
	caPEM, caKeyPEM, err := cluster.ca.PEM()
	if err != nil {
		t.Fatal(err)
	}
	noName, noNameKey := cluster.write("ca-as-node.crt", caPEM), cluster.write("ca-as-node.key", caKeyPEM)
	for name, files := range map[string][3]string{
		"no CA file":          {filepath.Join(cluster.dir, "none.crt"), certFile, keyFile},
		"CA file not PEM":     {keyFile, certFile, keyFile},
		"another CA's":        {other.caFile, certFile, keyFile},
		"key of another cert": {cluster.caFile, otherCert, keyFile},
		"names no node":       {cluster.caFile, noName, noNameKey},
	} {
		if _, err := mesh.LoadTLS(files[0], files[1], files[2]); !errors.Is(err, mesh.ErrInvalidConfig) {
			t.Errorf("LoadTLS with %s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := mesh.LoadTLS(filepath.Join(cluster.dir, "none.crt"), certFile, keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadTLS of a missing file: %v, want it to wrap os.ErrNotExist too", err)
	}
}
