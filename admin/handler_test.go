package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sampleNode is node-1 of a cluster of two, node-2 having answered its
// ping and node-3 not.
func sampleNode() *fakeNode {
	return &fakeNode{
		name:           "node-1",
		routingVersion: 0xba82229a7d1c23f8,
		members: []MemberInfo{
			{Name: "node-1", Self: true, State: "alive", GossipAddr: "127.0.0.1:7101", RemoteAddr: "127.0.0.1:8101",
				Capabilities: []string{"room"}, LastSeen: t0},
			{Name: "node-2", State: "alive", GossipAddr: "127.0.0.1:7102", RemoteAddr: "127.0.0.1:8102",
				Capabilities: []string{"room"}, Labels: map[string]string{"zone": "b"},
				LastSeen: t0.Add(-255 * time.Millisecond), ProbeRTT: 461 * time.Microsecond},
			{Name: "node-3", State: "suspect", GossipAddr: "127.0.0.1:7103", RemoteAddr: "127.0.0.1:8103",
				LastSeen: t0.Add(-3 * time.Second)},
		},
		pongs: []PingResult{
			{Node: "node-1", RTT: 5 * time.Microsecond, RoutingVersion: 0xba82229a7d1c23f8, AdminAddr: "127.0.0.1:9101", Activations: 1},
			{Node: "node-2", RTT: 549 * time.Microsecond, RoutingVersion: 0xba82229a7d1c23f8, AdminAddr: "127.0.0.1:9102",
				Activations: 2, Draining: true},
			{Node: "node-3", Err: errors.New("mesh: unreachable: ping node-3: no answer")},
		},
		activations: []ActivationInfo{
			{Capability: "room", ID: "news", Shard: 494, PID: "$9", Since: t0.Add(-2461 * time.Millisecond), LastUsed: t0.Add(-1 * time.Second)},
			{Capability: "chat", ID: "z", Shard: 1, PID: "$8", Since: t0.Add(-time.Minute), LastUsed: t0.Add(-time.Minute)},
			{Capability: "room", ID: "design", Shard: 757, PID: "$7", Since: t0.Add(-2461 * time.Millisecond), LastUsed: t0.Add(-2461 * time.Millisecond)},
		},
		placement: Placement{Shard: 123, Owner: "node-2", RingNodes: []string{"node-1", "node-2"},
			RingVersion: 0x2127aab6b7f9f535, RoutingVersion: 0xba82229a7d1c23f8, Requires: map[string]string{"zone": "b"},
			Members: []RingMember{{Name: "node-1", OnRing: true}, {Name: "node-2", OnRing: true},
				{Name: "node-3", Reason: "lacks label zone=b"}}},
		status: ClusterStatus{
			Node: "node-1", RoutingVersion: 0xbc091cef2a59fac7, Status: "degraded",
			Reasons:         []Reason{{Kind: "member_failed", Subject: "node-3", Detail: "node-3 left without draining 5s ago and has not come back"}},
			Members:         map[string]int{"alive": 2, "suspect": 0, "draining": 0},
			RoutingVersions: map[string]uint64{"node-2": 0xbc091cef2a59fac7, "node-1": 0xbc091cef2a59fac7},
			CheckedAt:       t0,
		},
	}
}

// TestAnswers pins every answer byte for byte: field names and order,
// omitted fields, indentation. Scripts and cmd/mesh read them.
func TestAnswers(t *testing.T) {
	for _, tt := range []struct {
		target string
		status int
		want   string
	}{
		{"/", http.StatusOK, `{
  "endpoints": [
    "GET /v1/members",
    "GET /v1/activations?capability=C\u0026limit=N",
    "GET /v1/owner?capability=C\u0026id=ID",
    "GET /v1/status",
    "GET /v1/ping?node=NAME\u0026timeout=D",
    "GET /v1/events",
    "POST /v1/call",
    "GET /metrics",
    "GET /healthz",
    "GET /readyz",
    "GET /dashboard"
  ],
  "node": "node-1"
}
`},
		{"/v1/members", http.StatusOK, `{
  "members": [
    {
      "name": "node-1",
      "self": true,
      "state": "alive",
      "gossip_addr": "127.0.0.1:7101",
      "remote_addr": "127.0.0.1:8101",
      "admin_addr": "127.0.0.1:9101",
      "capabilities": [
        "room"
      ],
      "last_seen": "2026-11-23T07:28:10Z",
      "last_seen_ago_seconds": 0,
      "routing_version": "ba82229a7d1c23f8",
      "ping_rtt_ms": 0.005
    },
    {
      "name": "node-2",
      "state": "alive",
      "gossip_addr": "127.0.0.1:7102",
      "remote_addr": "127.0.0.1:8102",
      "admin_addr": "127.0.0.1:9102",
      "capabilities": [
        "room"
      ],
      "labels": {
        "zone": "b"
      },
      "last_seen": "2026-11-23T07:28:09.745Z",
      "last_seen_ago_seconds": 0.255,
      "probe_rtt_ms": 0.461,
      "routing_version": "ba82229a7d1c23f8",
      "ping_rtt_ms": 0.549
    },
    {
      "name": "node-3",
      "state": "suspect",
      "gossip_addr": "127.0.0.1:7103",
      "remote_addr": "127.0.0.1:8103",
      "capabilities": [],
      "last_seen": "2026-11-23T07:28:07Z",
      "last_seen_ago_seconds": 3,
      "ping_error": "mesh: unreachable: ping node-3: no answer"
    }
  ],
  "node": "node-1",
  "routing_version": "ba82229a7d1c23f8"
}
`},
		{"/v1/activations?limit=2", http.StatusOK, `{
  "activations": [
    {
      "capability": "chat",
      "id": "z",
      "shard": 1,
      "pid": "$8",
      "since": "2026-11-23T07:27:10Z",
      "age_seconds": 60,
      "idle_seconds": 60
    },
    {
      "capability": "room",
      "id": "design",
      "shard": 757,
      "pid": "$7",
      "since": "2026-11-23T07:28:07.539Z",
      "age_seconds": 2.461,
      "idle_seconds": 2.461
    }
  ],
  "node": "node-1",
  "total": 3,
  "truncated": true
}
`},
		{"/v1/activations?capability=none", http.StatusOK, `{
  "activations": [],
  "node": "node-1",
  "total": 0,
  "truncated": false
}
`},
		{"/v1/owner?capability=room&id=general", http.StatusOK, `{
  "capability": "room",
  "id": "general",
  "members": [
    {
      "name": "node-1",
      "on_ring": true
    },
    {
      "name": "node-2",
      "on_ring": true
    },
    {
      "name": "node-3",
      "on_ring": false,
      "reason": "lacks label zone=b"
    }
  ],
  "node": "node-1",
  "owner": "node-2",
  "requires": {
    "zone": "b"
  },
  "ring_nodes": [
    "node-1",
    "node-2"
  ],
  "ring_version": "2127aab6b7f9f535",
  "routing_version": "ba82229a7d1c23f8",
  "shard": 123
}
`},
		{"/v1/status", http.StatusOK, `{
  "checked_at": "2026-11-23T07:28:10Z",
  "members": {
    "alive": 2,
    "draining": 0,
    "suspect": 0
  },
  "node": "node-1",
  "reasons": [
    {
      "detail": "node-3 left without draining 5s ago and has not come back",
      "kind": "member_failed",
      "subject": "node-3"
    }
  ],
  "routing_version": "bc091cef2a59fac7",
  "routing_versions": {
    "node-1": "bc091cef2a59fac7",
    "node-2": "bc091cef2a59fac7"
  },
  "status": "degraded"
}
`},
		{"/v1/ping", http.StatusOK, `{
  "node": "node-1",
  "pings": [
    {
      "node": "node-1",
      "rtt_ms": 0.005,
      "routing_version": "ba82229a7d1c23f8",
      "admin_addr": "127.0.0.1:9101",
      "activations": 1
    },
    {
      "node": "node-2",
      "rtt_ms": 0.549,
      "routing_version": "ba82229a7d1c23f8",
      "admin_addr": "127.0.0.1:9102",
      "activations": 2,
      "draining": true
    },
    {
      "node": "node-3",
      "activations": 0,
      "error": "mesh: unreachable: ping node-3: no answer"
    }
  ]
}
`},
		{"/v1/ping?node=node-3", http.StatusOK, `{
  "node": "node-1",
  "pings": [
    {
      "node": "node-3",
      "activations": 0,
      "error": "mesh: unreachable: ping node-3: no answer"
    }
  ]
}
`},
		{"/healthz", http.StatusOK, `{
  "node": "node-1",
  "status": "ok"
}
`},
		{"/readyz", http.StatusOK, `{
  "node": "node-1",
  "ready": true
}
`},
	} {
		w := serve(t, sampleNode(), false, "GET", tt.target, "")
		if w.Code != tt.status || w.Body.String() != tt.want {
			t.Errorf("GET %s: %d\n%s\nwant %d\n%s", tt.target, w.Code, w.Body, tt.status, tt.want)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", tt.target, ct)
		}
	}
}

// TestStatusCodes: refused requests and errors of the node answer with
// the status of their kind and an Error.
func TestStatusCodes(t *testing.T) {
	invalid := Mark(errors.New("mesh: invalid request: empty ID"), ErrInvalid)
	noOwner := Mark(errors.New(`mesh: no node offers the capability: "none"`), ErrNotFound)
	for _, tt := range []struct {
		name   string
		edit   func(*fakeNode)
		target string
		status int
		error  string
	}{
		{"bad limit", nil, "/v1/activations?limit=x", 400, `limit "x": want a count, 0 for all`},
		{"negative limit", nil, "/v1/activations?limit=-1", 400, `limit "-1": want a count, 0 for all`},
		{"invalid ID", func(f *fakeNode) { f.locateErr = invalid }, "/v1/owner?capability=room&id=", 400, invalid.Error()},
		{"no owner", func(f *fakeNode) { f.locateErr = noOwner }, "/v1/owner?capability=none&id=a", 404, noOwner.Error()},
		{"locate fails unmarked", func(f *fakeNode) { f.locateErr = errors.New("closed") }, "/v1/owner?capability=a&id=a", 404, "closed"},
		{"ping a stranger", nil, "/v1/ping?node=nope", 404, errNoSuchMember.Error()},
		{"bad ping timeout", nil, "/v1/ping?timeout=x", 400, `timeout "x": want a positive duration such as 500ms`},
		{"negative ping timeout", nil, "/v1/ping?timeout=-1s", 400, `timeout "-1s": want a positive duration such as 500ms`},
		{"ping timeout too long", nil, "/v1/ping?timeout=30001ms", 400, `timeout "30001ms": want at most 30s`},
	} {
		f := sampleNode()
		if tt.edit != nil {
			tt.edit(f)
		}
		w := serve(t, f, false, "GET", tt.target, "")
		want := "{\n  \"error\": " + quote(tt.error) + "\n}\n"
		if w.Code != tt.status || w.Body.String() != want {
			t.Errorf("%s: GET %s: %d %s; want %d %s", tt.name, tt.target, w.Code, w.Body, tt.status, want)
		}
	}
}

// TestNotReady: a node that is not ready answers 503 with the reason.
func TestNotReady(t *testing.T) {
	f := sampleNode()
	f.readyErr = errors.New("not joined: no seed reached yet")
	w := serve(t, f, false, "GET", "/readyz", "")
	want := `{
  "node": "node-1",
  "ready": false,
  "reason": "not joined: no seed reached yet"
}
`
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != want {
		t.Errorf("GET /readyz: %d\n%s\nwant 503\n%s", w.Code, w.Body, want)
	}
}

// TestMembersPings: GET /v1/members pings within half a second, and not at
// all with ping=false.
func TestMembersPings(t *testing.T) {
	f := sampleNode()
	serve(t, f, false, "GET", "/v1/members", "")
	if f.pingAlls != 1 || f.pingCtxTTL <= 0 || f.pingCtxTTL > membersPingTimeout {
		t.Errorf("%d PingAll, with %v left; want 1 within %v", f.pingAlls, f.pingCtxTTL, membersPingTimeout)
	}
	f = sampleNode()
	w := serve(t, f, false, "GET", "/v1/members?ping=false", "")
	if f.pingAlls != 0 || strings.Contains(w.Body.String(), "admin_addr") || strings.Contains(w.Body.String(), "ping_") {
		t.Errorf("ping=false: %d PingAll\n%s", f.pingAlls, w.Body)
	}
	f = sampleNode()
	serve(t, f, false, "GET", "/v1/ping?node=node-2&timeout=50ms", "")
	if f.pingCtxTTL <= 0 || f.pingCtxTTL > 50*time.Millisecond {
		t.Errorf("ping with timeout=50ms: %v left", f.pingCtxTTL)
	}
	f = sampleNode()
	if w := serve(t, f, false, "GET", "/v1/ping?timeout=30s", ""); w.Code != http.StatusOK || f.pingCtxTTL <= 29*time.Second {
		t.Errorf("ping with timeout=30s, the longest: %d, %v left", w.Code, f.pingCtxTTL)
	}
}

// TestRoutes: what is not a route, or not its method, is refused by the
// mux; /metrics serves the node's registry.
func TestRoutes(t *testing.T) {
	for _, tt := range []struct {
		method, target string
		status         int
	}{
		{"GET", "/nope", http.StatusNotFound},
		{"GET", "/v1/call", http.StatusMethodNotAllowed},
		{"POST", "/v1/members", http.StatusMethodNotAllowed},
		{"GET", "/metrics", http.StatusOK},
	} {
		if w := serve(t, sampleNode(), true, tt.method, tt.target, ""); w.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.target, w.Code, tt.status)
		}
	}
}

// quote writes s as encoding/json does, for the strings of these tests.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
