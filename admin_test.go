package mesh_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	dto "github.com/prometheus/client_model/go"
)

// adminClient talks to admin endpoints without keeping connections, so
// that no transport goroutine outlives a test.
var adminClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// startAdminNode starts a node with an admin endpoint on a free port.
func startAdminNode(t testing.TB, name string, seeds []string, calls bool, caps ...mesh.Capability) *mesh.Node {
	t.Helper()
	return startNodeWith(t, name, seeds, func(cfg *mesh.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminCalls = calls
	}, caps...)
}

// adminGet GETs path from the admin endpoint addr, decodes the JSON answer
// into v and returns the HTTP status.
func adminGet(t testing.TB, addr, path string, v any) int {
	t.Helper()
	resp, err := adminClient.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s%s: %v in %s", addr, path, err, body)
		}
	}
	return resp.StatusCode
}

// TestAdminEndpoints: on a converged three-node cluster, every admin view
// agrees with what the calls did: the members and their addresses, the
// activations the calls made and where, the owner of each ID, a running
// status, pings of every member, counted calls, health and readiness.
func TestAdminEndpoints(t *testing.T) {
	var nodes []*mesh.Node
	var seeds []string
	for i := range 3 {
		name := fmt.Sprintf("node-%d", i+1)
		n := startAdminNode(t, name, seeds, i == 0, echo(name))
		nodes = append(nodes, n)
		seeds = append(seeds, n.GossipAddr())
	}
	waitConverged(t, nodes...)
	endpoint := nodes[0].AdminAddr()

	servedBy := map[string]string{}
	for i := range 20 {
		id := fmt.Sprintf("user-%d", i)
		reply := call(t, nodes[0], "echo", id, "hi")
		servedBy[id], _, _ = strings.Cut(reply, "/")
	}

	t.Run("members", func(t *testing.T) {
		var got admin.Members
		if code := adminGet(t, endpoint, "/v1/members", &got); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if len(got.Members) != 3 {
			t.Fatalf("%d members, want 3: %+v", len(got.Members), got)
		}
		for i, m := range got.Members {
			n := nodes[i]
			if m.Name != n.Name() || m.State != "alive" || m.AdminAddr != n.AdminAddr() || m.GossipAddr != n.GossipAddr() ||
				m.RoutingVersion != got.RoutingVersion || m.Self != (i == 0) || !slices.Equal(m.Capabilities, []string{"echo"}) {
				t.Errorf("member %d: %+v; want %s alive at admin %s, gossip %s, routing version %s",
					i, m, n.Name(), n.AdminAddr(), n.GossipAddr(), got.RoutingVersion)
			}
		}
	})

	t.Run("activations and owners", func(t *testing.T) {
		found := map[string]string{}
		for _, n := range nodes {
			var got admin.Activations
			adminGet(t, n.AdminAddr(), "/v1/activations?capability=echo", &got)
			if got.Node != n.Name() || got.Total != len(got.Activations) {
				t.Errorf("%s answered %+v", n.Name(), got)
			}
			for _, a := range got.Activations {
				if a.AgeSeconds < a.IdleSeconds || a.IdleSeconds < 0 {
					t.Errorf("%s: age %v, idle %v", a.ID, a.AgeSeconds, a.IdleSeconds)
				}
				found[a.ID] = n.Name()
			}
		}
		for id, node := range servedBy {
			if found[id] != node {
				t.Errorf("%s was served by %s but listed on %q", id, node, found[id])
			}
			var owner admin.Owner
			adminGet(t, endpoint, "/v1/owner?capability=echo&id="+id, &owner)
			if owner.Owner != node {
				t.Errorf("owner of %s: %q, served by %s", id, owner.Owner, node)
			}
		}
		var none admin.Error
		if code := adminGet(t, endpoint, "/v1/owner?capability=nothing&id=x", &none); code != http.StatusNotFound || none.Error == "" {
			t.Errorf("owner of an unoffered capability: %d %v; want 404 with an error", code, none)
		}
		var invalid admin.Error
		if code := adminGet(t, endpoint, "/v1/owner?capability=echo&id=", &invalid); code != http.StatusBadRequest || invalid.Error == "" {
			t.Errorf("owner of an empty ID: %d %v; want 400 with an error", code, invalid)
		}
	})

	t.Run("status and ping", func(t *testing.T) {
		var st admin.Status
		// A probe round late under load makes a member look suspect for
		// a moment: wait for a clean answer rather than take the first.
		waitFor(t, 10*time.Second, "status running with 3 alive members", func() bool {
			adminGet(t, endpoint, "/v1/status", &st)
			return st.Status == "running" && len(st.Reasons) == 0 && st.Members["alive"] == 3
		})
		var ping admin.Pings
		adminGet(t, endpoint, "/v1/ping", &ping)
		if len(ping.Pings) != 3 {
			t.Fatalf("%d pings, want 3", len(ping.Pings))
		}
		for i, p := range ping.Pings {
			if p.Node != nodes[i].Name() || p.Error != "" || p.RTTMs <= 0 {
				t.Errorf("ping %d: %+v", i, p)
			}
		}
		var missing admin.Error
		if code := adminGet(t, endpoint, "/v1/ping?node=nope", &missing); code != http.StatusNotFound {
			t.Errorf("ping of a non-member: status %d, want 404", code)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		if got := counterValue(t, nodes[0], "mesh_calls_total", map[string]string{"capability": "echo", "outcome": "ok"}); got != 20 {
			t.Errorf("node-1 counted %v ok echo calls, want 20", got)
		}
		var active float64
		for _, n := range nodes {
			active += counterValue(t, n, "mesh_activations", map[string]string{"capability": "echo"})
		}
		if active != 20 {
			t.Errorf("%v activations across the nodes, want 20", active)
		}
		// Some of the 20 calls went to the other nodes, each a message at
		// least, carried by at least one frame.
		frames := counterValue(t, nodes[0], "mesh_transport_frames_total", nil)
		messages := counterValue(t, nodes[0], "mesh_transport_messages_total", nil)
		if frames < 1 || messages < frames {
			t.Errorf("node-1 sent %v messages in %v frames; want at least one frame, and no fewer messages", messages, frames)
		}
		resp, err := adminClient.Get("http://" + endpoint + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, re := range []string{
			`(?m)^mesh_calls_total\{capability="echo",outcome="ok"\} 20$`,
			`(?m)^mesh_call_duration_seconds_count\{capability="echo"\} 20$`,
			`(?m)^mesh_members\{state="alive"\} 3$`,
		} {
			if !regexp.MustCompile(re).Match(body) {
				t.Errorf("/metrics has no line matching %s", re)
			}
		}
	})

	t.Run("call", func(t *testing.T) {
		body := `{"capability":"echo","id":"user-1","type":"google.protobuf.StringValue","payload":"via admin"}`
		var got struct {
			Reply map[string]any `json:"reply"`
			Error string         `json:"error"`
		}
		if code := adminPost(t, endpoint, "/v1/call", body, &got); code != http.StatusOK {
			t.Fatalf("status %d: %+v", code, got)
		}
		if v, _ := got.Reply["value"].(string); !strings.HasPrefix(v, servedBy["user-1"]+"/user-1/2: via admin") {
			t.Errorf("reply %v", got.Reply)
		}
		// The Any form, with @type, works too.
		body = `{"capability":"echo","id":"user-1","payload":{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"any"}}`
		if code := adminPost(t, endpoint, "/v1/call", body, &got); code != http.StatusOK {
			t.Fatalf("status %d: %+v", code, got)
		}
		for _, bad := range []string{
			`{"capability":"echo","id":"x","type":"no.such.Type","payload":{}}`,
			`{"capability":"echo","id":"","type":"google.protobuf.StringValue","payload":"x"}`,
			`not json`,
		} {
			got.Error = ""
			if code := adminPost(t, endpoint, "/v1/call", bad, &got); code != http.StatusBadRequest || got.Error == "" {
				t.Errorf("%s: status %d, error %q; want 400 with an error", bad, code, got.Error)
			}
		}
		var failed admin.CallError
		body = `{"capability":"nothing","id":"x","type":"google.protobuf.StringValue","payload":"x"}`
		if code := adminPost(t, endpoint, "/v1/call", body, &failed); code != http.StatusBadGateway || failed.Outcome != "no_node" || failed.Error == "" {
			t.Errorf("call of an unoffered capability: status %d, %+v; want 502, outcome no_node", code, failed)
		}
		if code := adminPost(t, nodes[1].AdminAddr(), "/v1/call", body, &got); code != http.StatusForbidden {
			t.Errorf("call on a node without AdminCalls: status %d, want 403", code)
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		resp, err := adminClient.Get("http://" + endpoint + "/dashboard/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var snap struct {
			Members []struct{ Name, State string }
			Rings   []struct {
				Capability string
				Shards     int
				Owners     []struct {
					Node   string
					Shards int
				}
			}
		}
		// A snapshot is up to a second old: the first may be of a view
		// from before the cluster converged.
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for seen := 0; seen < 5 && sc.Scan(); {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				seen++
				if err := json.Unmarshal([]byte(data), &snap); err != nil {
					t.Fatal(err)
				}
				if len(snap.Members) == 3 && len(snap.Rings) == 1 && len(snap.Rings[0].Owners) == 3 {
					break
				}
			}
		}
		if len(snap.Members) != 3 || len(snap.Rings) != 1 || snap.Rings[0].Capability != "echo" ||
			snap.Rings[0].Shards != 4096 || len(snap.Rings[0].Owners) != 3 {
			t.Fatalf("snapshot %+v: want 3 members and the ring of echo over 4096 shards and 3 nodes", snap)
		}
		sum := 0
		for _, o := range snap.Rings[0].Owners {
			sum += o.Shards
		}
		if sum != 4096 {
			t.Errorf("owners %+v own %d shards, want 4096", snap.Rings[0].Owners, sum)
		}
		for id, node := range servedBy {
			var where struct{ Owner string }
			if code := adminGet(t, endpoint, "/dashboard/where?capability=echo&id="+id, &where); code != http.StatusOK || where.Owner != node {
				t.Errorf("where %s: %d, owner %q, served by %s", id, code, where.Owner, node)
			}
		}
	})

	t.Run("health", func(t *testing.T) {
		waitFor(t, 10*time.Second, "the node to be ready", func() bool { return nodes[0].Ready(context.Background()) == nil })
		for _, path := range []string{"/healthz", "/readyz", "/"} {
			if code := adminGet(t, endpoint, path, nil); code != http.StatusOK {
				t.Errorf("%s: status %d", path, code)
			}
		}
	})
}

func adminPost(t testing.TB, addr, path, body string, v any) int {
	t.Helper()
	resp, err := adminClient.Post("http://"+addr+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("POST %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("POST %s%s: %v", addr, path, err)
	}
	return resp.StatusCode
}

// counterValue returns the value of the counter or gauge name with labels
// in n's metrics, or 0 if there is none.
func counterValue(t testing.TB, n *mesh.Node, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := n.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestAdminOff: without AdminAddr a node serves no endpoint.
func TestAdminOff(t *testing.T) {
	n := startNode(t, "solo", nil)
	if n.AdminAddr() != "" {
		t.Fatalf("AdminAddr %q without Config.AdminAddr", n.AdminAddr())
	}
}

// TestAdminNotJoined: a node that has reached none of its seeds is not
// ready.
func TestAdminNotJoined(t *testing.T) {
	n := startNodeWith(t, "lonely", nil, func(cfg *mesh.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.Seeds = []string{"127.0.0.1:1"}
	})
	var got admin.Ready
	if code := adminGet(t, n.AdminAddr(), "/readyz", &got); code != http.StatusServiceUnavailable || got.Ready || got.Reason == "" {
		t.Errorf("readyz: %d %+v; want 503 with a reason", code, got)
	}
}
