package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/meshrun/mesh/admin"
	"github.com/prometheus/client_golang/prometheus"
)

// health is a Node that is only asked its name and its metrics, and
// what the dashboard reads every second: a view with no members.
type health struct{ admin.Node }

func (health) Name() string                 { return "solo" }
func (health) Metrics() prometheus.Gatherer { return prometheus.NewRegistry() }
func (health) Members() []admin.MemberInfo  { return nil }
func (health) RoutingVersion() uint64       { return 0 }
func (health) Rings() []admin.RingInfo      { return nil }

// TestListen: the server answers on the address it reports and stops on
// Shutdown; an address taken fails Listen.
func TestListen(t *testing.T) {
	s, err := admin.Listen("127.0.0.1:0", health{}, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h admin.Health
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || h != (admin.Health{Node: "solo", Status: "ok"}) {
		t.Errorf("GET /healthz: %d %+v %v", resp.StatusCode, h, err)
	}

	if _, err := admin.Listen(s.Addr(), health{}, admin.Options{}); err == nil {
		t.Errorf("Listen on %s, which is taken: no error", s.Addr())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Shutdown", s.Addr())
	}
}

// TestListenTokens: Listen refuses a token too short, and a server with
// tokens answers 401 with a challenge to a request without one, over HTTP.
func TestListenTokens(t *testing.T) {
	if _, err := admin.Listen("127.0.0.1:0", health{}, admin.Options{Tokens: []admin.Token{{Secret: "short"}}}); !errors.Is(err, admin.ErrInvalidOptions) {
		t.Fatalf("Listen with a 5-byte token: %v; want ErrInvalidOptions", err)
	}
	secret := "listen-token-0123456789"
	s, err := admin.Listen("127.0.0.1:0", health{}, admin.Options{Tokens: []admin.Token{{Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tt := range []struct {
		auth   string
		status int
	}{{"", http.StatusUnauthorized}, {"Bearer " + secret, http.StatusOK}} {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/metrics", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.status == http.StatusUnauthorized) != (resp.Header.Get("WWW-Authenticate") != "") {
			t.Errorf("GET /metrics with %q: %d, challenge %q; want %d", tt.auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.status)
		}
	}
}
