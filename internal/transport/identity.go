package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/meshrun/mesh/certs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ErrTLSConfig reports a TLS configuration the transport refuses
// (ValidateTLS).
var ErrTLSConfig = errors.New("transport: TLS configuration refused")

// DefaultMemberWait is Options.MemberWait when it is zero.
const DefaultMemberWait = 2 * time.Second

// ValidateTLS reports why c cannot secure the transport of the node named
// name, wrapping ErrTLSConfig; nil if it can. Peers must be verified both
// ways against the cluster's own CA: c must require and verify client
// certificates (ClientAuth tls.RequireAndVerifyClientCert), name the CAs
// in ClientCAs and RootCAs (nil would trust the system's roots), verify
// servers (no InsecureSkipVerify) and hold a certificate that names the
// node (package certs): Certificates, each of which must name it, or both
// GetCertificate and GetClientCertificate, whose certificates are checked
// at every handshake instead. GetConfigForClient is refused: the
// configuration it returns would escape these checks.
func ValidateTLS(c *tls.Config, name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrTLSConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.InsecureSkipVerify:
		return bad("InsecureSkipVerify is set: servers' certificates would not be verified")
	case c.ClientAuth != tls.RequireAndVerifyClientCert:
		return bad("ClientAuth is %v, want RequireAndVerifyClientCert: every peer must prove which node it is", c.ClientAuth)
	case c.ClientCAs == nil:
		return bad("ClientCAs is nil: set the CA that signs the nodes' certificates (nil would trust the system's roots)")
	case c.RootCAs == nil:
		return bad("RootCAs is nil: set the CA that signs the nodes' certificates (nil would trust the system's roots)")
	case c.GetConfigForClient != nil:
		return bad("GetConfigForClient is set: the configuration it returns would escape these checks; use GetCertificate and GetClientCertificate to change certificates")
	case len(c.Certificates) == 0 && (c.GetCertificate == nil || c.GetClientCertificate == nil):
		return bad("no certificate: set Certificates, or GetCertificate (to serve) and GetClientCertificate (to dial)")
	}
	for i := range c.Certificates {
		if err := names(&c.Certificates[i], name); err != nil {
			return bad("Certificates[%d]: %v", i, err)
		}
	}
	return nil
}

// names reports whether cert names the node called name.
func names(cert *tls.Certificate, name string) error {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return errors.New("an empty certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return err
		}
	}
	got, err := certs.NodeName(leaf)
	if err != nil {
		return fmt.Errorf("%w: want the URI SAN %s", err, certs.NodeURI(name))
	}
	if got != name {
		return fmt.Errorf("the certificate names node %q, not %q", got, name)
	}
	return nil
}

// peerName returns the node the verified certificate of a TLS peer names.
func peerName(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("no verified certificate")
	}
	return certs.NodeName(cs.VerifiedChains[0][0])
}

// tlsConfigs returns the configurations the transport serves and dials
// with: c, with the certificates it picks per handshake checked to name
// this node.
func (t *Transport) tlsConfigs(c *tls.Config) (server, client *tls.Config) {
	self := t.opts.Name
	server, client = c.Clone(), c.Clone()
	if get := c.GetCertificate; get != nil {
		server.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := get(hello)
			if err != nil || cert == nil { // nil: Certificates, checked at Listen
				return cert, err
			}
			if err := names(cert, self); err != nil {
				t.warnLimited("self", "GetCertificate gave a certificate of another node", "err", err)
				return nil, fmt.Errorf("transport: GetCertificate: %w", err)
			}
			return cert, nil
		}
	}
	if get := c.GetClientCertificate; get != nil {
		client.GetClientCertificate = func(req *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := get(req)
			if err != nil {
				return cert, err
			}
			if err := names(cert, self); err != nil {
				t.warnLimited("self", "GetClientCertificate gave a certificate of another node", "err", err)
				return nil, fmt.Errorf("transport: GetClientCertificate: %w", err)
			}
			return cert, nil
		}
	}
	return server, client
}

// dialTLS returns the configuration to dial the member at addr with: the
// server's verified certificate must name the member SetMembers gave at
// that address, so that no other holder of a certificate of the cluster's
// CA can pass for it.
func (t *Transport) dialTLS(addr string) *tls.Config {
	c := t.clientTLS.Clone()
	user := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if user != nil {
			if err := user(cs); err != nil {
				return err
			}
		}
		want, ok := t.view.Load().byAddr[addr]
		if !ok {
			return fmt.Errorf("transport: %s is no member's address", addr)
		}
		got, err := peerName(cs)
		if err == nil && got != want {
			err = fmt.Errorf("its certificate names node %q", got)
		}
		if err != nil {
			t.refused.Add(1)
			t.warnLimited("server:"+addr, "refused a server that is not the member at its address",
				"addr", addr, "member", want, "err", err)
			return fmt.Errorf("transport: the server at %s is not member %q: %w", addr, want, err)
		}
		return nil
	}
	return c
}

// warnLimited logs msg at Warn, at most once per logEvery for key.
func (t *Transport) warnLimited(key, msg string, args ...any) {
	ok, as, held := t.limit.allow(key)
	if !ok {
		return
	}
	if as != key {
		args = append(args, "note", "more peers refused than are logged one by one")
	}
	if held > 0 {
		args = append(args, "unlogged_since_last", held)
	}
	t.opts.Logger.Warn(msg+" (logged at most once a minute per peer)", args...)
}

// loggedCreds are the server's credentials, logging the handshakes that
// fail: clients without a certificate of the cluster's CA, plaintext ones.
type loggedCreds struct {
	credentials.TransportCredentials
	t *Transport
}

func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.t.refused.Add(1)
		host := hostOf(conn.RemoteAddr())
		if errors.Is(err, io.EOF) {
			// Closed before a handshake: a port probe, say.
			c.t.opts.Logger.Debug("a connection closed during its TLS handshake", "remote", host)
		} else {
			c.t.warnLimited("host:"+host, "refused a connection: TLS handshake failed", "remote", host, "err", err)
		}
	}
	return out, info, err
}

func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{c.TransportCredentials.Clone(), c.t}
}

// hostOf returns the host of a remote address, without its port: a client
// that reconnects is the same peer.
func hostOf(a net.Addr) string {
	if a == nil {
		return "?"
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// errRefused marks a peer that may not send what it sends.
type errRefused struct{ reason string }

func (e errRefused) Error() string { return e.reason }

// identify returns the node that the peer of a stream is, as its verified
// certificate names it; "" on a plaintext transport, which trusts every
// peer.
func (t *Transport) identify(ctx context.Context) (name, remote string, err error) {
	p, _ := grpcpeer.FromContext(ctx)
	if p != nil {
		remote = hostOf(p.Addr)
	}
	if t.opts.TLS == nil {
		return "", remote, nil
	}
	var info credentials.TLSInfo
	if p != nil {
		info, _ = p.AuthInfo.(credentials.TLSInfo)
	}
	if name, err = peerName(info.State); err != nil {
		return "", remote, errRefused{fmt.Sprintf("its certificate names no node: %v", err)}
	}
	return name, remote, nil
}

// verdict is what admit makes of a peer's messages.
type verdict int

const (
	admitted verdict = iota
	// undecided: the members may not have caught up yet (the peer has just
	// joined, or restarted at another address).
	undecided
	refused
)

// admit returns nil once the peer whose certificate names name may send
// msgs: it is a member, and every message it sends
// in the name of a process names that member's address. Messages that
// claim another member or this node are refused at once; a peer that is
// no member, or that sends from an address that is no member's, is
// refused after MemberWait if SetMembers has not made it right by then.
func (t *Transport) admit(ctx context.Context, name string, msgs []*Message) error {
	var timeout <-chan time.Time
	for {
		v := t.view.Load()
		verdict, reason := t.judge(v, name, msgs)
		switch verdict {
		case admitted:
			return nil
		case refused:
			return errRefused{reason}
		}
		if timeout == nil {
			timer := time.NewTimer(t.opts.MemberWait)
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case <-v.changed:
		case <-timeout:
			return errRefused{fmt.Sprintf("%s (waited %v)", reason, t.opts.MemberWait)}
		case <-ctx.Done():
			return ctx.Err()
		case <-t.ctx.Done():
			return ErrClosed
		}
	}
}

// judge decides, as the members of v stand, whether the peer whose
// certificate names name may send msgs.
func (t *Transport) judge(v *view, name string, msgs []*Message) (verdict, string) {
	if name == t.opts.Name {
		return refused, fmt.Sprintf("its certificate names %q, this node", name)
	}
	addr, member := v.byName[name]
	var wrongAddr string
	for _, m := range msgs {
		switch b := m.GetBody().(type) {
		case *Message_Handoff:
			if from := b.Handoff.GetFrom(); from != name {
				return refused, fmt.Sprintf("%q hands off states in the name of %q", name, from)
			}
		case *Message_Pong:
			if node := b.Pong.GetNode(); node != name {
				return refused, fmt.Sprintf("%q answers a ping in the name of %q", name, node)
			}
		}
		sa := m.GetSenderAddress()
		if sa == "" && m.GetSenderId() == "" || member && sa == addr {
			continue
		}
		if sa == t.addr {
			return refused, fmt.Sprintf("%q sends in the name of this node (%s)", name, sa)
		}
		if other, ok := v.byAddr[sa]; ok && other != name {
			return refused, fmt.Sprintf("%q sends in the name of member %q (%s)", name, other, sa)
		}
		wrongAddr = sa
	}
	switch {
	case !member:
		return undecided, fmt.Sprintf("its certificate names %q, no member", name)
	case wrongAddr != "":
		return undecided, fmt.Sprintf("%q sends from %s, not its address %s", name, wrongAddr, addr)
	}
	return admitted, ""
}

// refuse ends a stream whose peer may not send what it sends, logging it
// at most once a minute per peer.
func (t *Transport) refuse(name, remote string, err error) error {
	var r errRefused
	if !errors.As(err, &r) {
		return err // the stream or the transport ended
	}
	t.refused.Add(1)
	key := "node:" + name
	if name == "" {
		key = "host:" + remote
	}
	t.warnLimited(key, "refused a peer's stream", "peer", name, "remote", remote, "reason", r.reason)
	return status.Error(codes.PermissionDenied, "transport: refused: "+r.reason)
}
