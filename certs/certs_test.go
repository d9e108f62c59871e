package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh/certs"
)

const day = 24 * time.Hour

func newAuthority(t *testing.T) *certs.Authority {
	t.Helper()
	ca, err := certs.NewAuthority("test CA", 30*day)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no certificate in %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNodeNameRoundTrips: every valid node name, however unlike a host
// name, comes back from the certificate Issue makes for it.
func TestNodeNameRoundTrips(t *testing.T) {
	ca := newAuthority(t)
	for _, name := range []string{
		"node-1", "Node_1.eu", "a b", "a/b", "../..", "50%", "q?x=1", "frag#1", "ünïcødé", "名前",
		"user@host", strings.Repeat("x", 128),
	} {
		certPEM, _, err := ca.Issue(name, []string{"127.0.0.1"}, day)
		if err != nil {
			t.Fatalf("Issue(%q): %v", name, err)
		}
		got, err := certs.NodeName(parse(t, certPEM))
		if err != nil || got != name {
			t.Fatalf("NodeName of the certificate of %q = %q, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 129), "\xff"} {
		if _, _, err := ca.Issue(bad, nil, day); !errors.Is(err, certs.ErrInvalidName) {
			t.Errorf("Issue(%q): %v, want ErrInvalidName", bad, err)
		}
	}
}

// TestNodeNameReadsOnlyNodeURIs: URIs of other forms name no node, and two
// node URIs name none unambiguously.
func TestNodeNameReadsOnlyNodeURIs(t *testing.T) {
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		uris []string
		want string
		err  error
	}{
		{nil, "", certs.ErrNoNode},
		{[]string{"mesh://node/a"}, "a", nil},
		{[]string{"spiffe://node/a", "https://example.com/", "mesh://node/b"}, "b", nil},
		{[]string{"mesh://other/a"}, "", certs.ErrNoNode},
		{[]string{"mesh://node/a?x=1"}, "", certs.ErrNoNode},
		{[]string{"mesh://node/a#x"}, "", certs.ErrNoNode},
		{[]string{"mesh://user@node/a"}, "", certs.ErrNoNode},
		{[]string{"mesh://node/"}, "", certs.ErrNoNode},
		{[]string{"mesh://node"}, "", certs.ErrNoNode},
		{[]string{"mesh://node/a", "mesh://node/b"}, "", certs.ErrManyNodes},
	} {
		c := &x509.Certificate{}
		for _, s := range tc.uris {
			c.URIs = append(c.URIs, uri(s))
		}
		got, err := certs.NodeName(c)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("NodeName(%v) = %q, %v; want %q, %v", tc.uris, got, err, tc.want, tc.err)
		}
	}
	if got := certs.NodeURI("a b").String(); got != "mesh://node/a%20b" {
		t.Errorf("NodeURI(a b) = %s", got)
	}
}

// TestIssuedCertificatesServeAndDial: a node certificate verifies against
// its CA for server and for client authentication, for the hosts it was
// made for, and not against another CA.
func TestIssuedCertificatesServeAndDial(t *testing.T) {
	ca, other := newAuthority(t), newAuthority(t)
	certPEM, keyPEM, err := ca.Issue("node-1", []string{"127.0.0.1", "::1", "localhost", "node-1.internal"}, day)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("the certificate and key do not pair: %v", err)
	}
	leaf := parse(t, certPEM)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "node-1.internal"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%s): %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("node-1"); err == nil {
		t.Error("the node's name is a valid host name of its certificate; want identity and hosts apart")
	}
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Certificate())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: otherPool}); err == nil {
		t.Error("the certificate verifies against another CA")
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA || ca.Certificate().PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("keys %v and %v, want ECDSA", leaf.PublicKeyAlgorithm, ca.Certificate().PublicKeyAlgorithm)
	}
	if leaf.NotAfter.After(ca.Certificate().NotAfter) {
		t.Error("the node certificate outlives its CA")
	}
	long, _, err := ca.Issue("node-2", nil, 365*day)
	if err != nil {
		t.Fatal(err)
	}
	if got := parse(t, long).NotAfter; got.After(ca.Certificate().NotAfter) {
		t.Errorf("a year's certificate from a 30-day CA ends %v, after the CA (%v)", got, ca.Certificate().NotAfter)
	}
}

// TestParseAuthorityRoundTrips: a CA written with PEM and read back signs
// certificates its first self verifies; a key that is not the CA's, or a
// certificate that is not a CA's, is refused.
func TestParseAuthorityRoundTrips(t *testing.T) {
	ca, other := newAuthority(t), newAuthority(t)
	certPEM, keyPEM, err := ca.PEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := certs.ParseAuthority(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	nodePEM, nodeKeyPEM, err := back.Issue("n", []string{"localhost"}, day)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	if _, err := parse(t, nodePEM).Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Fatalf("issued by the CA read back: %v", err)
	}
	_, otherKey, err := other.PEM()
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string][2][]byte{
		"another CA's key":    {certPEM, otherKey},
		"a node certificate":  {nodePEM, nodeKeyPEM},
		"no PEM":              {[]byte("junk"), keyPEM},
		"the key as the cert": {keyPEM, keyPEM},
		"no key":              {certPEM, nil},
	} {
		if _, err := certs.ParseAuthority(tc[0], tc[1]); !errors.Is(err, certs.ErrNotAuthority) {
			t.Errorf("%s: %v, want ErrNotAuthority", name, err)
		}
	}
}

func ExampleAuthority_Issue() {
	ca, err := certs.NewAuthority("mesh development CA", 365*24*time.Hour)
	if err != nil {
		panic(err)
	}
	certPEM, _, err := ca.Issue("node-1", []string{"127.0.0.1", "localhost"}, 30*24*time.Hour)
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic(err)
	}
	name, err := certs.NodeName(leaf)
	fmt.Println(leaf.URIs[0], name, err, leaf.IPAddresses, leaf.DNSNames)
	// Output: mesh://node/node-1 node-1 <nil> [127.0.0.1] [localhost]
}
