package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sse is one server-sent event as a client reads it.
type sse struct {
	name, id, data string
}

// readEvents reads server-sent events from sc until n have come or the
// stream ends; comment lines are skipped.
func readEvents(sc *bufio.Scanner, n int) []sse {
	var out []sse
	var cur sse
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sse{}) {
				out = append(out, cur)
			}
			cur = sse{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

// streamServer serves a handler over f with opts on a loopback port.
func streamServer(t *testing.T, f *fakeNode, opts Options) *httptest.Server {
	t.Helper()
	h, err := NewHandler(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func getStream(t *testing.T, ctx context.Context, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/events", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestEventStream: each event is a server-sent event named by its kind,
// numbered, with the Event as JSON; the stream's end is an "end" event
// saying why, and the subscription is closed.
func TestEventStream(t *testing.T) {
	stream := newFakeStream()
	f := &fakeNode{name: "node-1", stream: stream}
	srv := streamServer(t, f, Options{})
	resp := getStream(t, context.Background(), srv.URL, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	go func() {
		stream.c <- EventInfo{Kind: "present", Member: "node-1", Self: true, Capabilities: []string{"echo"}, Incarnation: 0xabc, At: t0}
		stream.c <- EventInfo{Kind: "joined", Member: "node-2", Labels: map[string]string{"zone": "a"}, At: t0}
		stream.c <- EventInfo{Kind: "missed", Missed: 7, At: t0}
		stream.c <- EventInfo{Kind: "bad\nkind", Member: "x"}
		stream.err = errors.New("mesh: node closed")
		close(stream.c)
	}()
	got := readEvents(bufio.NewScanner(resp.Body), 10)
	if len(got) != 5 {
		t.Fatalf("got %d events: %+v", len(got), got)
	}
	want := []struct{ name, id, member string }{
		{"present", "1", "node-1"}, {"joined", "2", "node-2"}, {"missed", "3", ""}, {"message", "4", "x"},
	}
	for i, w := range want {
		var e Event
		if err := json.Unmarshal([]byte(got[i].data), &e); err != nil {
			t.Fatalf("event %d: %v in %q", i, err, got[i].data)
		}
		if got[i].name != w.name || got[i].id != w.id || e.Member != w.member || e.Node != "node-1" || e.Seq != int64(i+1) {
			t.Errorf("event %d: %+v %+v, want %+v", i, got[i], e, w)
		}
	}
	var first Event
	_ = json.Unmarshal([]byte(got[0].data), &first)
	if !first.Self || first.Incarnation != "0000000000000abc" || first.Capabilities[0] != "echo" || !first.At.Equal(t0) {
		t.Errorf("present event: %+v", first)
	}
	var missed Event
	_ = json.Unmarshal([]byte(got[2].data), &missed)
	if missed.Missed != 7 {
		t.Errorf("missed event: %+v", missed)
	}
	var end Error
	if got[4].name != "end" || json.Unmarshal([]byte(got[4].data), &end) != nil || end.Error != "mesh: node closed" {
		t.Errorf("last event: %+v", got[4])
	}
	select {
	case <-stream.closed:
	case <-time.After(5 * time.Second):
		t.Error("subscription not closed")
	}
}

// TestEventStreamsBounded: at most maxStreams streams are open at once;
// one more answers 503, while other routes still answer; a stream whose
// client went frees its place.
func TestEventStreamsBounded(t *testing.T) {
	f := &fakeNode{name: "node-1", stream: newFakeStream()}
	srv := streamServer(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	for range maxStreams {
		if resp := getStream(t, ctx, srv.URL, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
	}
	if resp := getStream(t, context.Background(), srv.URL, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream past the bound: %d", resp.StatusCode)
	}
	resp, err := http.Get(srv.URL + "/v1/members?ping=false")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("members while streams are open: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := getStream(t, context.Background(), srv.URL, "")
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("streams whose clients went still hold their places")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventStreamNeedsToken: with tokens, a stream needs one (a read token
// will do); a node that is closing answers 503.
func TestEventStreamNeedsToken(t *testing.T) {
	const read = "read-token-0123456789"
	f := &fakeNode{name: "node-1", stream: newFakeStream()}
	srv := streamServer(t, f, Options{Tokens: []Token{{Secret: read}}})
	if resp := getStream(t, context.Background(), srv.URL, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	if resp := getStream(t, context.Background(), srv.URL, "wrong-token-0123456789"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if resp := getStream(t, ctx, srv.URL, read); resp.StatusCode != http.StatusOK {
		t.Errorf("with a read token: %d", resp.StatusCode)
	}
	f.streamErr = Mark(errors.New("mesh: node closed"), ErrUnavailable)
	if resp := getStream(t, context.Background(), srv.URL, read); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("closing node: %d", resp.StatusCode)
	}
}
