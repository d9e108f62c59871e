package mesh_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
)

// sseEvent is one server-sent event of GET /v1/events.
type sseEvent struct {
	name string
	data string
}

// readSSE reads the server-sent events of body onto a channel, closed when
// the stream ends.
func readSSE(body *bufio.Scanner) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		var cur sseEvent
		for body.Scan() {
			line := body.Text()
			switch {
			case line == "" && cur.name != "":
				out <- cur
				cur = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				cur.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// TestAdminEvents: GET /v1/events on a node with tokens needs one, and
// streams the members present, a join, a drain and a graceful leave as
// server-sent events; when the node closes, the stream ends with an "end"
// event, and the open stream does not hold up Close.
func TestAdminEvents(t *testing.T) {
	a := startNodeWith(t, "node-1", nil, func(c *mesh.Config) {
		c.AdminAddr = "127.0.0.1:0"
		c.AdminTokens = []admin.Token{{Secret: adminReadSecret}}
	})
	url := "http://" + a.AdminAddr() + "/v1/events"
	if status, _, _ := adminDo(t, http.DefaultClient, http.MethodGet, url, "", ""); status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", status)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+adminReadSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	events := readSSE(bufio.NewScanner(resp.Body))
	expect := func(name, member string) admin.Event {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("stream ended, want %s %s", name, member)
			}
			var j admin.Event
			if err := json.Unmarshal([]byte(e.data), &j); err != nil {
				t.Fatalf("%s: %v", e.data, err)
			}
			if e.name != name || j.Kind != name || j.Member != member || j.Node != "node-1" {
				t.Fatalf("got %s %s, want %s %s", e.name, e.data, name, member)
			}
			return j
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s %s", name, member)
		}
		panic("unreachable")
	}
	if self := expect("present", "node-1"); !self.Self || self.Incarnation == "" {
		t.Errorf("present event of the node itself: %+v", self)
	}
	b := startNode(t, "node-2", []string{a.GossipAddr()})
	expect("joined", "node-2")
	if err := b.RegisterCapabilities(echo("node-2")); err != nil {
		t.Fatal(err)
	}
	if j := expect("capabilities_changed", "node-2"); len(j.Capabilities) != 1 || j.Capabilities[0] != "echo" {
		t.Errorf("capabilities: %+v", j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	expect("draining", "node-2")
	expect("left", "node-2")

	begin := time.Now()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("Close took %v with a stream open", took)
	}
	// The node's own draining and leaving come first, if it sent them in
	// time; then the end.
	for e := range events {
		if e.name == "end" {
			return
		}
	}
	t.Error("the stream ended without an end event")
}
