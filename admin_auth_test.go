package mesh_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
)

// Secrets of the admin tokens of these tests.
const (
	adminReadSecret     = "e2e-read-token-0123456789"
	adminOperatorSecret = "e2e-operator-token-0123456789"
)

// adminDo sends method path with body (as application/json) to the admin
// endpoint addr over client, with the bearer token secret unless it is
// empty, and returns the status, the challenge and the body.
func adminDo(t testing.TB, client *http.Client, method, url, secret, body string) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b
}

// TestAdminTokens: a node started with admin tokens answers 401 to every
// route but the probes without a valid token, serves a read token every
// view and /metrics but not calls (403), and an operator token calls a
// process through the mesh; calls are bounded by the node's CallTimeout
// and need a JSON body.
func TestAdminTokens(t *testing.T) {
	var logs bytes.Buffer
	n := startNodeWith(t, "guarded", nil, func(cfg *mesh.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminCalls = true
		cfg.AdminTokens = []admin.Token{{Secret: adminReadSecret}, {Secret: adminOperatorSecret, Role: admin.RoleOperator}}
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}, echo("guarded"))
	base := "http://" + n.AdminAddr()
	callBody := `{"capability":"echo","id":"user-1","type":"google.protobuf.StringValue","payload":"hi"}`
	waitFor(t, 10*time.Second, "the node to be ready", func() bool { return n.Ready(context.Background()) == nil })

	for _, tt := range []struct {
		method, path, secret, body string
		want                       int
	}{
		{"GET", "/v1/status", "", "", http.StatusUnauthorized},
		{"GET", "/v1/members", "wrong-token-0123456789", "", http.StatusUnauthorized},
		{"GET", "/metrics", "", "", http.StatusUnauthorized},
		{"GET", "/", "", "", http.StatusUnauthorized},
		{"POST", "/v1/call", "", callBody, http.StatusUnauthorized},
		{"GET", "/v1/status", adminReadSecret, "", http.StatusOK},
		{"GET", "/v1/members", adminReadSecret, "", http.StatusOK},
		{"GET", "/v1/activations", adminReadSecret, "", http.StatusOK},
		{"GET", "/v1/owner?capability=echo&id=user-1", adminReadSecret, "", http.StatusOK},
		{"GET", "/v1/ping", adminReadSecret, "", http.StatusOK},
		{"GET", "/metrics", adminReadSecret, "", http.StatusOK},
		{"POST", "/v1/call", adminReadSecret, callBody, http.StatusForbidden},
		{"GET", "/v1/status", adminOperatorSecret, "", http.StatusOK},
		{"GET", "/healthz", "", "", http.StatusOK},
		{"GET", "/readyz", "", "", http.StatusOK},
		{"GET", "/v1/ping?timeout=31s", adminReadSecret, "", http.StatusBadRequest},
		{"POST", "/v1/call", adminOperatorSecret,
			`{"capability":"echo","id":"user-1","type":"google.protobuf.StringValue","payload":"hi","timeout":"6s"}`, http.StatusBadRequest},
	} {
		code, challenge, body := adminDo(t, adminClient, tt.method, base+tt.path, tt.secret, tt.body)
		if code != tt.want || (code == http.StatusUnauthorized || code == http.StatusForbidden) != strings.HasPrefix(challenge, "Bearer") {
			t.Errorf("%s %s with %q: %d, challenge %q, %s; want %d", tt.method, tt.path, tt.secret, code, challenge, body, tt.want)
		}
	}

	// An operator calls through the mesh.
	code, _, body := adminDo(t, adminClient, "POST", base+"/v1/call", adminOperatorSecret, callBody)
	var reply admin.CallReply
	if code != http.StatusOK || json.Unmarshal(body, &reply) != nil || !strings.Contains(string(reply.Reply), "guarded/user-1/1: hi") {
		t.Fatalf("call with the operator token: %d %s", code, body)
	}
	// A read token sees what the call did, in the views and in /metrics.
	var st admin.Status
	if code, _, body := adminDo(t, adminClient, "GET", base+"/v1/status", adminReadSecret, ""); code != http.StatusOK ||
		json.Unmarshal(body, &st) != nil || st.Node != "guarded" {
		t.Errorf("status with the read token: %d %s", code, body)
	}
	if _, _, body := adminDo(t, adminClient, "GET", base+"/metrics", adminReadSecret, ""); !bytes.Contains(body,
		[]byte(`mesh_calls_total{capability="echo",outcome="ok"} 1`)) {
		t.Errorf("/metrics with the read token does not count the call:\n%.500s", body)
	}
	// A form posted by a web page does not call.
	req, _ := http.NewRequest("POST", base+"/v1/call", strings.NewReader(callBody))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+adminOperatorSecret)
	if resp, err := adminClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("call as text/plain: %v %v; want 415", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, secret := range []string{adminReadSecret, adminOperatorSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the node logged a token:\n%s", logs.String())
		}
	}
}

// TestAdminConfigRefused: Start refuses admin tokens too short, with a
// character a header cannot carry, or given twice, and AdminTLS without a
// certificate, with ErrInvalidConfig and an error that shows no secret.
func TestAdminConfigRefused(t *testing.T) {
	for name, edit := range map[string]func(*mesh.Config){
		"empty token":      func(c *mesh.Config) { c.AdminTokens = []admin.Token{{Secret: ""}} },
		"15-byte token":    func(c *mesh.Config) { c.AdminTokens = []admin.Token{{Secret: "fifteen-bytes!!"}} },
		"token with space": func(c *mesh.Config) { c.AdminTokens = []admin.Token{{Secret: "sixteen bytes, or more"}} },
		"same token twice": func(c *mesh.Config) {
			c.AdminTokens = []admin.Token{{Secret: adminReadSecret}, {Secret: adminReadSecret, Role: admin.RoleOperator}}
		},
		"TLS without a certificate": func(c *mesh.Config) { c.AdminTLS = &tls.Config{} },
	} {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName = "refused"
		cfg.AdminAddr = "127.0.0.1:0"
		edit(&cfg)
		n, err := mesh.Start(context.Background(), cfg)
		if err == nil {
			_ = n.Close(context.Background())
		}
		if !errors.Is(err, mesh.ErrInvalidConfig) || !errors.Is(err, admin.ErrInvalidOptions) {
			t.Errorf("%s: %v; want ErrInvalidConfig", name, err)
			continue
		}
		for _, tok := range cfg.AdminTokens {
			if tok.Secret != "" && strings.Contains(err.Error(), tok.Secret) {
				t.Errorf("%s: the error shows the secret: %v", name, err)
			}
		}
	}
}

// TestAdminOpenWarning: a node whose admin endpoint listens beyond
// loopback without authentication says so in a warning; with tokens, or
// on loopback, it does not.
func TestAdminOpenWarning(t *testing.T) {
	for _, tt := range []struct {
		addr   string
		tokens []admin.Token
		warn   bool
	}{
		{"0.0.0.0:0", nil, true},
		{"0.0.0.0:0", []admin.Token{{Secret: adminReadSecret}}, false},
		{"127.0.0.1:0", nil, false},
	} {
		var logs bytes.Buffer
		startNodeWith(t, "warned", nil, func(cfg *mesh.Config) {
			cfg.AdminAddr, cfg.AdminTokens = tt.addr, tt.tokens
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		if got := strings.Contains(logs.String(), "admin endpoint has no authentication"); got != tt.warn {
			t.Errorf("AdminAddr %s, %d tokens: warned %v, want %v\n%s", tt.addr, len(tt.tokens), got, tt.warn, logs.String())
		}
	}
}

// TestAdminClientCertificates: with AdminTLS verifying client
// certificates, the endpoint serves HTTPS and a client with a certificate
// of the cluster's CA calls a process without a token; a client without
// one does not get through the handshake.
func TestAdminClientCertificates(t *testing.T) {
	creds := newTestCA(t, "operators").config("tls-admin") // RequireAndVerifyClientCert
	n := startNodeWith(t, "tls-admin", nil, func(cfg *mesh.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminCalls = true
		cfg.AdminTLS = creds
	}, echo("tls-admin"))
	base := "https://" + n.AdminAddr()
	withCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: creds, DisableKeepAlives: true}}
	code, _, body := adminDo(t, withCert, "POST", base+"/v1/call", "",
		`{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"over TLS"}`)
	if code != http.StatusOK || !bytes.Contains(body, []byte("tls-admin/a/1: over TLS")) {
		t.Errorf("call with a client certificate: %d %s", code, body)
	}
	noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: creds.RootCAs}, DisableKeepAlives: true}}
	if resp, err := noCert.Get(base + "/v1/status"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /v1/status without a client certificate: %d, want a refused handshake", resp.StatusCode)
	}
}
