package mesh_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// testCA makes a CA and returns a mutual-TLS configuration for nodes on
// 127.0.0.1 whose certificate it signs.
func testCA(t *testing.T, name string) *tls.Config {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, nodeKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: nodeKey}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// TestTransportTLS: nodes whose transport uses mutual TLS with one CA call
// each other; a node whose certificate another CA signed, or that speaks
// plaintext, gets no call through, and fails with a typed error by its
// deadline.
func TestTransportTLS(t *testing.T) {
	cluster := testCA(t, "cluster")
	with := func(c *tls.Config) func(*mesh.Config) {
		return func(cfg *mesh.Config) { cfg.TransportTLS = c }
	}
	a := startNodeWith(t, "a", nil, with(cluster), echo("a"))
	b := startNodeWith(t, "b", []string{a.GossipAddr()}, with(cluster), echo("b"))
	waitConverged(t, a, b)
	for _, owner := range []*mesh.Node{a, b} {
		id := idOwnedBy(t, a, "echo", owner.Name())
		if got := servedBy(mustCall(a, id)); got != owner.Name() {
			t.Fatalf("call to %s on %s over TLS: served by %q", id, owner.Name(), got)
		}
	}

	for name, edit := range map[string]func(*mesh.Config){
		"another CA": with(testCA(t, "intruder")),
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
