package admin_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/meshrun/mesh/admin"
	"github.com/prometheus/client_golang/prometheus"
)

// health is a Node that is only asked its name and its metrics.
type health struct{ admin.Node }

func (health) Name() string                 { return "solo" }
func (health) Metrics() prometheus.Gatherer { return prometheus.NewRegistry() }

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
