package admin

import (
	"encoding/json"
	"time"
)

// The answers of the endpoint, as JSON. The fields of an answer are
// declared in alphabetical order of their JSON names, the order in which
// the endpoint has always written them; the fields of a list element
// (Member, Activation, Pong) are in the order of their importance.
// Versions are 16 hex digits, ages in seconds, round trips in
// milliseconds.

// Index is the answer of GET /: the node and the routes it serves.
type Index struct {
	// Endpoints lists the routes, such as "GET /v1/members".
	Endpoints []string `json:"endpoints"`
	Node      string   `json:"node"`
}

// Members is the answer of GET /v1/members: the members as Node sees them.
type Members struct {
	// Members is sorted by name.
	Members []Member `json:"members"`
	// Node is the node that answered, and RoutingVersion its placement.
	Node           string `json:"node"`
	RoutingVersion string `json:"routing_version"`
}

// Member is one member in Members.
type Member struct {
	Name string `json:"name"`
	// Self marks the node that answered.
	Self bool `json:"self,omitempty"`
	// State is "alive", "suspect" or "draining".
	State      string `json:"state"`
	GossipAddr string `json:"gossip_addr"`
	RemoteAddr string `json:"remote_addr"`
	// AdminAddr is the member's admin endpoint, as it said when pinged;
	// empty if it has none or did not answer.
	AdminAddr string `json:"admin_addr,omitempty"`
	// Capabilities is never null.
	Capabilities []string          `json:"capabilities"`
	Labels       map[string]string `json:"labels,omitempty"`
	// LastSeen is when the answering node last heard from the member, and
	// LastSeenAgo how long before the answer that was.
	LastSeen    time.Time `json:"last_seen"`
	LastSeenAgo float64   `json:"last_seen_ago_seconds"`
	// ProbeRTTMs is the round trip of the last acknowledged probe; zero
	// (absent) if none.
	ProbeRTTMs float64 `json:"probe_rtt_ms,omitempty"`
	// RoutingVersion and PingRTTMs come from the member's answer to a
	// ping through the mesh; PingError instead when it did not answer.
	RoutingVersion string  `json:"routing_version,omitempty"`
	PingRTTMs      float64 `json:"ping_rtt_ms,omitempty"`
	PingError      string  `json:"ping_error,omitempty"`
}

// Activations is the answer of GET /v1/activations: the processes active
// on the node.
type Activations struct {
	// Activations is sorted by capability and ID, at most the limit asked
	// for; never null.
	Activations []Activation `json:"activations"`
	Node        string       `json:"node"`
	// Total counts the activations that matched, Truncated says whether
	// Activations holds fewer.
	Total     int  `json:"total"`
	Truncated bool `json:"truncated"`
}

// Activation is one activation in Activations.
type Activation struct {
	Capability string `json:"capability"`
	ID         string `json:"id"`
	Shard      uint32 `json:"shard"`
	// PID names the activation's actor on its node.
	PID string `json:"pid"`
	// Since is when the activation was made; AgeSeconds how long before
	// the answer that was, IdleSeconds how long before the answer its
	// last message arrived.
	Since       time.Time `json:"since"`
	AgeSeconds  float64   `json:"age_seconds"`
	IdleSeconds float64   `json:"idle_seconds"`
	// Origin is where the process's state came from: "handoff" (its
	// previous owner handed it off), "store", or absent (it started
	// empty).
	Origin string `json:"origin,omitempty"`
}

// Owner is the answer of GET /v1/owner: where (Capability, ID) lives as
// Node sees it.
type Owner struct {
	Capability string `json:"capability"`
	ID         string `json:"id"`
	// Members are every member Node considered for the ring, sorted by
	// name, with why those off it are.
	Members []RingMember `json:"members"`
	Node    string       `json:"node"`
	// Owner is the node that owns Shard on the capability's ring.
	Owner string `json:"owner"`
	// Requires are the labels every node on the ring carries; absent for
	// none.
	Requires map[string]string `json:"requires,omitempty"`
	// RingNodes are the nodes on the ring, RingVersion the ring's version.
	RingNodes      []string `json:"ring_nodes"`
	RingVersion    string   `json:"ring_version"`
	RoutingVersion string   `json:"routing_version"`
	Shard          uint32   `json:"shard"`
}

// RingMember is a member as the placement of a capability judged it.
type RingMember struct {
	Name   string `json:"name"`
	OnRing bool   `json:"on_ring"`
	// Weight is the member's weight on the ring when it is on it (its
	// label mesh.capacity, else 1).
	Weight int `json:"weight,omitempty"`
	// Reason says why a member is off the ring: "lacks the capability",
	// "draining", "lacks label region=eu", "declares requirement
	// region=us". Absent when OnRing.
	Reason string `json:"reason,omitempty"`
}

// Status is the answer of GET /v1/status: the health of the cluster as
// Node sees it.
type Status struct {
	CheckedAt time.Time `json:"checked_at"`
	// Members counts the members by state: "alive", "suspect", "draining".
	Members map[string]int `json:"members"`
	Node    string         `json:"node"`
	// Reasons says why the cluster is degraded, sorted by kind and
	// subject; empty, never null, when it is running.
	Reasons        []Reason `json:"reasons"`
	RoutingVersion string   `json:"routing_version"`
	// RoutingVersions is the placement every member that answered a ping
	// routes by, by member name.
	RoutingVersions map[string]string `json:"routing_versions"`
	// Status is "running" or "degraded".
	Status string `json:"status"`
}

// Reason is one reason, in Status, that the cluster is degraded.
type Reason struct {
	// Detail is a sentence for operators.
	Detail string `json:"detail"`
	// Kind is one of mesh's Reason* constants, such as "member_failed".
	Kind string `json:"kind"`
	// Subject is the member or capability concerned; empty for the
	// cluster as a whole.
	Subject string `json:"subject"`
}

// Pings is the answer of GET /v1/ping: the answers to pings through the
// mesh, sorted by node.
type Pings struct {
	Node  string `json:"node"`
	Pings []Pong `json:"pings"`
}

// Pong is one answer in Pings. A member that did not answer has only Node
// and Error.
type Pong struct {
	Node           string  `json:"node"`
	RTTMs          float64 `json:"rtt_ms,omitempty"`
	RoutingVersion string  `json:"routing_version,omitempty"`
	AdminAddr      string  `json:"admin_addr,omitempty"`
	// Activations is how many processes are active on the member.
	Activations int64  `json:"activations"`
	Draining    bool   `json:"draining,omitempty"`
	Error       string `json:"error,omitempty"`
}

// CallRequest is the body of POST /v1/call.
type CallRequest struct {
	Capability string `json:"capability"`
	ID         string `json:"id"`
	// Type is the full name of the payload's protobuf message; if empty,
	// Payload must be the JSON form of a google.protobuf.Any, with @type.
	Type string `json:"type,omitempty"`
	// Payload is the message in protobuf JSON, of a type linked into the
	// node.
	Payload json.RawMessage `json:"payload"`
	// Timeout bounds the call, such as "2s"; if empty, the node's
	// CallTimeout.
	Timeout string `json:"timeout,omitempty"`
}

// CallReply is the answer of POST /v1/call when the call succeeded.
type CallReply struct {
	Node string `json:"node"`
	// Reply is the process's reply as the JSON form of a
	// google.protobuf.Any, with @type.
	Reply  json.RawMessage `json:"reply"`
	TookMs float64         `json:"took_ms"`
}

// CallError is the answer of POST /v1/call when the call failed: 400 for
// an invalid request, 502 otherwise.
type CallError struct {
	Error string `json:"error"`
	Node  string `json:"node"`
	// Outcome is the outcome label under which the node counted the call
	// in mesh_calls_total, such as "deadline" or "no_node".
	Outcome string  `json:"outcome"`
	TookMs  float64 `json:"took_ms"`
}

// Event is the data of one server-sent event of GET /v1/events: a
// membership event of the node that answered. The stream's events are
// named by their Kind ("event: joined"); the last one, "end", has an
// Error as its data instead, saying why the node ended the stream.
type Event struct {
	At time.Time `json:"at"`
	// Capabilities and Labels are the member's as of the event.
	Capabilities []string `json:"capabilities,omitempty"`
	Draining     bool     `json:"draining,omitempty"`
	GossipAddr   string   `json:"gossip_addr,omitempty"`
	Incarnation  string   `json:"incarnation,omitempty"`
	// Kind is "present" (a member there when the stream began: one per
	// member first, sorted by name), "joined", "left" (gracefully),
	// "failed", "capabilities_changed", "labels_changed", "draining",
	// "restarted" (a new incarnation), or "missed" (Missed events were
	// dropped here because the client fell behind).
	Kind   string            `json:"kind"`
	Labels map[string]string `json:"labels,omitempty"`
	// Member is the member concerned; empty for "missed".
	Member     string `json:"member,omitempty"`
	Missed     int    `json:"missed,omitempty"`
	Node       string `json:"node"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	// Self marks an event of the node that answered.
	Self bool `json:"self,omitempty"`
	// Seq numbers the events of one stream from 1; it is also the
	// event's id.
	Seq int64 `json:"seq"`
}

// Health is the answer of GET /healthz.
type Health struct {
	Node string `json:"node"`
	// Status is "ok".
	Status string `json:"status"`
}

// Ready is the answer of GET /readyz: 200 with Ready set, or 503 with the
// Reason the node is not ready.
type Ready struct {
	Node   string `json:"node"`
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// Error is the answer to a request the endpoint refuses or cannot serve,
// with a status of 400 or more (POST /v1/call answers a failed call with
// a CallError, which has the same Error field).
type Error struct {
	Error string `json:"error"`
}
