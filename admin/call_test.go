package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestCall: a payload named by its type or given as an Any reaches the
// node's Call, and the reply comes back as an Any, with the time taken.
func TestCall(t *testing.T) {
	for _, body := range []string{
		`{"capability":"echo","id":"user-1","type":"google.protobuf.StringValue","payload":"via admin"}`,
		`{"capability":"echo","id":"user-1","payload":{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"via admin"}}`,
	} {
		f := sampleNode()
		f.reply, f.outcome = wrapperspb.String("node-2/user-1/1: via admin"), "ok"
		w := serve(t, f, true, "POST", "/v1/call", body)
		want := `{
  "node": "node-1",
  "reply": {
    "@type": "type.googleapis.com/google.protobuf.StringValue",
    "value": "node-2/user-1/1: via admin"
  },
  "took_ms": 1.5
}
`
		if w.Code != http.StatusOK || w.Body.String() != want {
			t.Errorf("%s: %d\n%s\nwant 200\n%s", body, w.Code, w.Body, want)
		}
		if len(f.calls) != 1 {
			t.Fatalf("%s: %d calls", body, len(f.calls))
		}
		c := f.calls[0]
		if c.capability != "echo" || c.id != "user-1" || c.deadline || !proto.Equal(c.payload, wrapperspb.String("via admin")) {
			t.Errorf("%s: called %+v", body, c)
		}
	}
}

// TestCallTimeout: the request's timeout bounds the call.
func TestCallTimeout(t *testing.T) {
	f := sampleNode()
	f.reply = wrapperspb.String("x")
	serve(t, f, true, "POST", "/v1/call", `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x","timeout":"2s"}`)
	if len(f.calls) != 1 || !f.calls[0].deadline {
		t.Errorf("calls %+v; want one with a deadline", f.calls)
	}
}

// TestCallFailed: a failed call answers a CallError with the outcome the
// node reports, 400 if the node found the request invalid, 502 otherwise.
func TestCallFailed(t *testing.T) {
	for _, tt := range []struct {
		err     error
		outcome string
		status  int
	}{
		{Mark(errors.New("mesh: invalid request: empty ID"), ErrInvalid), "invalid", http.StatusBadRequest},
		{errors.New(`mesh: no node offers the capability: "nothing"`), "no_node", http.StatusBadGateway},
		{errors.New("mesh: call: context deadline exceeded"), "deadline", http.StatusBadGateway},
		{Mark(errors.New("mesh: node closed"), ErrUnavailable), "closed", http.StatusServiceUnavailable},
	} {
		f := sampleNode()
		f.callErr, f.outcome = tt.err, tt.outcome
		w := serve(t, f, true, "POST", "/v1/call", `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x"}`)
		want := `{
  "error": ` + quote(tt.err.Error()) + `,
  "node": "node-1",
  "outcome": "` + tt.outcome + `",
  "took_ms": 1.5
}
`
		if w.Code != tt.status || w.Body.String() != want {
			t.Errorf("%v: %d\n%s\nwant %d\n%s", tt.err, w.Code, w.Body, tt.status, want)
		}
	}
}

// TestCallRefused: without Options.Calls, and for a body or payload that
// does not decode, the node is not called.
func TestCallRefused(t *testing.T) {
	for _, tt := range []struct {
		calls  bool
		body   string
		status int
		error  string
	}{
		{false, `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x"}`, http.StatusForbidden,
			"calls through the admin endpoint are off (Config.AdminCalls)"},
		{true, `not json`, http.StatusBadRequest, "body: invalid character 'o' in literal null (expecting 'u')"},
		{true, `{"capability":"echo","id":"a","payload":"x","extra":1}`, http.StatusBadRequest, `body: json: unknown field "extra"`},
		{true, `{"capability":"echo","id":"a","payload":"` + strings.Repeat("x", maxCallBody) + `"}`, http.StatusBadRequest,
			"body: http: request body too large"},
		{true, `{"capability":"echo","id":"a","type":"google.protobuf.StringValue"}`, http.StatusBadRequest, "payload is missing"},
		// protobuf's own text follows, with spaces it varies on purpose
		// from build to build: only the prefix is ours.
		{true, `{"capability":"echo","id":"a","type":"no.such.Type","payload":{}}`, http.StatusBadRequest,
			`type \"no.such.Type\" is not linked into this node: proto:*`},
		{true, `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":{}}`, http.StatusBadRequest, ""},
		{true, `{"capability":"echo","id":"a","payload":{"value":"x"}}`, http.StatusBadRequest, ""},
		{true, `{"capability":"echo","id":"a","payload":{"@type":"type.googleapis.com/no.such.Type"}}`, http.StatusBadRequest, ""},
		{true, `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x","timeout":"bad"}`, http.StatusBadRequest,
			`timeout "bad": want a positive duration such as 2s`},
		{true, `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x","timeout":"0s"}`, http.StatusBadRequest,
			`timeout "0s": want a positive duration such as 2s`},
	} {
		f := sampleNode()
		w := serve(t, f, tt.calls, "POST", "/v1/call", tt.body)
		body := w.Body.String()
		if len(tt.body) > 100 {
			tt.body = tt.body[:100] + "..."
		}
		if w.Code != tt.status || len(f.calls) != 0 {
			t.Errorf("%s: %d, %d calls; want %d, none", tt.body, w.Code, len(f.calls), tt.status)
		}
		if prefix, ok := strings.CutSuffix(tt.error, "*"); ok {
			if !strings.HasPrefix(body, "{\n  \"error\": \""+prefix) {
				t.Errorf("%s: answered\n%s\nwant an error beginning %q", tt.body, body, prefix)
			}
		} else if tt.error != "" && body != "{\n  \"error\": "+quote(tt.error)+"\n}\n" {
			t.Errorf("%s: answered\n%s\nwant error %q", tt.body, body, tt.error)
		}
		if !strings.HasPrefix(body, "{\n  \"error\": \"") {
			t.Errorf("%s: answered %s; want an Error", tt.body, body)
		}
	}
}

// TestCallBadReply: a reply that cannot be written as an Any answers 502.
func TestCallBadReply(t *testing.T) {
	f := sampleNode()
	f.outcome = "ok" // a process's nil reply
	w := serve(t, f, true, "POST", "/v1/call", `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x"}`)
	if w.Code != http.StatusBadGateway || !strings.HasPrefix(w.Body.String(), "{\n  \"error\": \"reply \\u003cnil\\u003e: ") {
		t.Errorf("nil reply: %d %s; want 502 with an error", w.Code, w.Body)
	}
}
