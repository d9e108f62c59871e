package admin

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
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// testCA is a certificate authority of the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue signs a certificate for 127.0.0.1 named name, for servers and
// clients.
func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCertificates: over HTTPS, a client certificate that verifies
// against ClientCAs is an operator; one that was only requested, or
// signed by another CA, grants nothing; without one a token still works,
// and the probes stay open under VerifyClientCertIfGiven.
func TestClientCertificates(t *testing.T) {
	ca, stranger := newTestCA(t, "operators"), newTestCA(t, "stranger")
	serverCert := ca.issue(t, "node")
	clientCert, strangerCert := ca.issue(t, "alice"), stranger.issue(t, "mallory")
	serve := func(clientAuth tls.ClientAuthType, tokens []Token) string {
		f := sampleNode()
		f.reply = wrapperspb.String("x")
		s, err := Listen("127.0.0.1:0", f, Options{Calls: true, Tokens: tokens, TLS: &tls.Config{
			Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.pool, ClientAuth: clientAuth,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		return s.Addr()
	}
	// do sends a request over a new connection presenting cert, if any,
	// even if the server names CAs that did not sign it, and returns its
	// status, or 0 if the handshake failed.
	do := func(addr string, cert *tls.Certificate, method, path, auth string) int {
		t.Helper()
		cfg := &tls.Config{RootCAs: ca.pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
		r := authRequest(method, "https://"+addr+path, auth)
		r.RequestURI = ""
		resp, err := client.Do(r)
		if err != nil {
			var cv *tls.CertificateVerificationError
			if errors.As(err, &cv) {
				t.Fatalf("%s %s: the client does not trust the server: %v", method, path, err)
			}
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	selfSigned := newTestCA(t, "self").issue(t, "self")

	for _, tt := range []struct {
		name       string
		clientAuth tls.ClientAuthType
		tokens     []Token
		cert       *tls.Certificate
		method     string
		path, auth string
		want       int
	}{
		{"verified certificate calls", tls.VerifyClientCertIfGiven, testTokens, &clientCert, "POST", "/v1/call", "", http.StatusOK},
		{"verified certificate reads", tls.VerifyClientCertIfGiven, testTokens, &clientCert, "GET", "/v1/status", "", http.StatusOK},
		{"verified certificate without tokens", tls.VerifyClientCertIfGiven, nil, &clientCert, "POST", "/v1/call", "", http.StatusOK},
		{"no certificate, no token", tls.VerifyClientCertIfGiven, testTokens, nil, "GET", "/v1/status", "", http.StatusUnauthorized},
		{"no certificate, no tokens configured", tls.VerifyClientCertIfGiven, nil, nil, "GET", "/metrics", "", http.StatusUnauthorized},
		{"no certificate, read token", tls.VerifyClientCertIfGiven, testTokens, nil, "GET", "/v1/status", "Bearer " + readSecret, http.StatusOK},
		{"no certificate, read token calls", tls.VerifyClientCertIfGiven, testTokens, nil, "POST", "/v1/call", "Bearer " + readSecret, http.StatusForbidden},
		{"no certificate, operator token", tls.VerifyClientCertIfGiven, testTokens, nil, "POST", "/v1/call", "Bearer " + operatorSecret, http.StatusOK},
		{"no certificate, probe", tls.VerifyClientCertIfGiven, testTokens, nil, "GET", "/healthz", "", http.StatusOK},
		{"another CA's certificate", tls.VerifyClientCertIfGiven, testTokens, &strangerCert, "GET", "/healthz", "", 0},
		{"required, with one", tls.RequireAndVerifyClientCert, nil, &clientCert, "POST", "/v1/call", "", http.StatusOK},
		{"required, without one", tls.RequireAndVerifyClientCert, nil, nil, "GET", "/healthz", "", 0},
		{"requested, not verified", tls.RequestClientCert, testTokens, &selfSigned, "GET", "/v1/status", "", http.StatusUnauthorized},
		{"any, not verified", tls.RequireAnyClientCert, testTokens, &selfSigned, "GET", "/v1/status", "", http.StatusUnauthorized},
		{"HTTPS only, no tokens", tls.NoClientCert, nil, nil, "POST", "/v1/call", "", http.StatusOK},
		{"HTTPS only, tokens", tls.NoClientCert, testTokens, &clientCert, "GET", "/v1/status", "", http.StatusUnauthorized},
	} {
		addr := serve(tt.clientAuth, tt.tokens)
		if got := do(addr, tt.cert, tt.method, tt.path, tt.auth); got != tt.want {
			t.Errorf("%s: %s %s: %d, want %d (0: handshake refused)", tt.name, tt.method, tt.path, got, tt.want)
		}
	}
}

// TestUnverifiedCertificate: a certificate the handshake did not verify
// grants nothing, even when TLS's own ClientAuth verifies: here the
// configuration GetConfigForClient chose only required one.
func TestUnverifiedCertificate(t *testing.T) {
	ca := newTestCA(t, "operators")
	serverCert, selfSigned := ca.issue(t, "node"), newTestCA(t, "self").issue(t, "self")
	requireAny := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAnyClientCert}
	s, err := Listen("127.0.0.1:0", sampleNode(), Options{Tokens: testTokens, TLS: &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.pool, ClientAuth: tls.VerifyClientCertIfGiven,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return requireAny, nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
		RootCAs: ca.pool, Certificates: []tls.Certificate{selfSigned},
	}}}
	resp, err := client.Get("https://" + s.Addr() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.TLS == nil {
		t.Errorf("GET /v1/status with an unverified certificate: %d, want 401", resp.StatusCode)
	}
}

// TestTLSOptions: TLS without a certificate, or that verifies client
// certificates against no ClientCAs (crypto/tls would take the system's
// CAs), is refused.
func TestTLSOptions(t *testing.T) {
	cert := newTestCA(t, "ca").issue(t, "node")
	for _, tt := range []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"no certificate", &tls.Config{}, "TLS has no certificate"},
		{"no ClientCAs", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert}, "no ClientCAs"},
		{"no ClientCAs, if given", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven}, "no ClientCAs"},
		{"server only", &tls.Config{Certificates: []tls.Certificate{cert}}, ""},
	} {
		_, err := NewHandler(sampleNode(), Options{TLS: tt.tls})
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want ErrInvalidOptions: ...%s", tt.name, err, tt.want)
		}
		if _, err := Listen("127.0.0.1:0", sampleNode(), Options{TLS: tt.tls}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Listen: %v; want ErrInvalidOptions", tt.name, err)
		}
	}
}

// TestTLSConfigKept: Listen serves with a copy of Options.TLS: the
// caller's configuration, which it may share with its clients or other
// servers, is not changed (http.Server adds "h2" to its NextProtos).
func TestTLSConfigKept(t *testing.T) {
	ca := newTestCA(t, "ca")
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "node")}}
	s, err := Listen("127.0.0.1:0", sampleNode(), Options{TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool}, DisableKeepAlives: true}}
	resp, err := client.Get("https://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(cfg.NextProtos) != 0 {
		t.Errorf("GET /healthz over HTTPS: %d; the caller's NextProtos became %q", resp.StatusCode, cfg.NextProtos)
	}
}
