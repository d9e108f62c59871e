package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Secrets of the tokens of guardedNode.
const (
	cliReadSecret     = "cli-read-token-0123456789"
	cliOperatorSecret = "cli-operator-token-0123456789"
)

// guardedNode starts, in this process, a node offering echo whose admin
// endpoint takes calls and needs a token: cliReadSecret reads,
// cliOperatorSecret also calls. It returns the endpoint's address.
func guardedNode(t *testing.T) string {
	t.Helper()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = "guarded"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.AdminCalls = true
	cfg.AdminTokens = []admin.Token{{Secret: cliReadSecret}, {Secret: cliOperatorSecret, Role: admin.RoleOperator}}
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	err = n.RegisterCapabilities(mesh.Capability{Name: "echo", New: func(string) mesh.Process {
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			return wrapperspb.String("echo " + ctx.ID() + ": " + msg.(*wrapperspb.StringValue).GetValue()), nil
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	return n.AdminAddr()
}

// TestToken: against a node with admin tokens, every command works with
// a read token, from --token or $MESH_TOKEN, and call with an operator
// token; without a token, with a wrong one, or calling with a read one,
// the CLI exits 1 saying what to do.
func TestToken(t *testing.T) {
	addr := "--addr=" + guardedNode(t)
	call := []string{"call", "echo", "a", "--type", "google.protobuf.StringValue", "--json", `"hi"`}
	for _, tt := range []struct {
		name   string
		env    string
		args   []string
		code   int
		stdout string // a substring of the output, or of the error if code is not 0
	}{
		{"no token", "", []string{"status"}, exitFailure, "needs a token: give --token or set MESH_TOKEN (HTTP 401)"},
		{"no token, actors", "", []string{"actors"}, exitFailure, "needs a token: give --token or set MESH_TOKEN"},
		{"wrong token", "", []string{"--token", "not-the-token-0123456789", "status"}, exitFailure,
			"refused the token: check --token or MESH_TOKEN (HTTP 401)"},
		{"wrong token in the environment", "not-the-token-0123456789", []string{"peers"}, exitFailure, "refused the token"},
		{"--token empty overrides the environment", cliReadSecret, []string{"--token", "", "peers"}, exitFailure, "needs a token"},
		{"read token: status", "", []string{"--token", cliReadSecret, "status"}, exitOK, "running (as guarded sees it"},
		{"read token: peers", "", []string{"--token", cliReadSecret, "peers"}, exitOK, "guarded"},
		{"read token: owner", "", []string{"--token", cliReadSecret, "owner", "echo", "a"}, exitOK, "echo/a is owned by guarded"},
		{"read token: ping", "", []string{"--token", cliReadSecret, "ping"}, exitOK, "guarded"},
		// The node takes a ping timeout of at most 30s.
		{"ping with a long --timeout", "", []string{"--token", cliReadSecret, "--timeout", "2m", "ping"}, exitOK, "guarded"},
		{"read token from the environment", cliReadSecret, []string{"status"}, exitOK, "running"},
		{"read token calls", "", append([]string{"--token", cliReadSecret}, call...), exitFailure,
			"the token is read-only: this needs an operator token (HTTP 403)"},
		{"operator token calls", "", append([]string{"--token", cliOperatorSecret}, call...), exitOK, `"value": "echo a: hi"`},
		{"operator token from the environment calls", cliOperatorSecret, call, exitOK, `"value": "echo a: hi"`},
		{"operator token: actors", cliOperatorSecret, []string{"actors"}, exitOK, "guarded  echo"},
	} {
		t.Setenv(tokenEnv, tt.env)
		code, out, errOut := cli(append([]string{addr}, tt.args...)...)
		got := out
		if tt.code != exitOK {
			got = errOut
		}
		if code != tt.code || !strings.Contains(got, tt.stdout) {
			t.Errorf("%s: mesh %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tt.name, strings.Join(tt.args, " "),
				code, tt.code, tt.stdout, out, errOut)
		}
	}
}

// TestTokenSent: the token goes to every endpoint the CLI asks, the nodes
// that actors finds included, and --help does not print the token held by
// $MESH_TOKEN.
func TestTokenSent(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // path: Authorization
	var other *httptest.Server
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/members":
			_, _ = w.Write([]byte(`{"members":[{"name":"other","admin_addr":"` + strings.TrimPrefix(other.URL, "http://") + `"}]}`))
		case "/v1/activations":
			_, _ = w.Write([]byte(`{"activations":[]}`))
		}
	}
	first := httptest.NewServer(http.HandlerFunc(record))
	defer first.Close()
	other = httptest.NewServer(http.HandlerFunc(record))
	defer other.Close()

	t.Setenv(tokenEnv, "from-the-environment-0123")
	if code, out, errOut := cli("--addr", strings.TrimPrefix(first.URL, "http://"), "actors"); code != exitOK {
		t.Fatalf("actors: exit %d\n%s%s", code, out, errOut)
	}
	mu.Lock()
	for _, path := range []string{"/v1/members", "/v1/activations"} {
		if seen[path] != "Bearer from-the-environment-0123" {
			t.Errorf("%s got Authorization %q", path, seen[path])
		}
	}
	mu.Unlock()
	if code, out, errOut := cli("--help"); code != exitOK || strings.Contains(out+errOut, "from-the-environment") ||
		!strings.Contains(out, "--token") {
		t.Errorf("--help: exit %d, shows the token or no --token:\n%s%s", code, out, errOut)
	}
}
