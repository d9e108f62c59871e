package admin

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// Node is what the endpoint needs of a node: a narrow view, in this
// package's types, that mesh implements over its *mesh.Node. The endpoint
// calls its methods from the goroutines of concurrent requests, so they
// must be safe for concurrent use.
//
// Errors that should not answer with the status the route uses by default
// are marked with ErrInvalid or ErrNotFound (see Mark); their message is
// what the answer says.
type Node interface {
	// Name is the node's name, in every answer.
	Name() string
	// RoutingVersion identifies the placement the node routes by.
	RoutingVersion() uint64
	// Members returns the members as the node sees them, sorted by name.
	Members() []MemberInfo
	// Activations returns the processes active on the node, in any order.
	Activations() []ActivationInfo
	// Locate says where (capability, id) lives as the node sees it. Its
	// error is marked ErrInvalid for a malformed capability or ID;
	// otherwise no member offers the capability (404).
	Locate(capability, id string) (Placement, error)
	// Status reports the health of the cluster as the node sees it; it
	// may ping the members, within ctx.
	Status(ctx context.Context) ClusterStatus
	// Ping pings member through the mesh, within ctx. Its error is marked
	// ErrNotFound if member is not a member as the node sees it;
	// otherwise the ping failed, and the answer says so.
	Ping(ctx context.Context, member string) (PingResult, error)
	// PingAll pings every member at once, within ctx, and returns their
	// answers sorted by name; a member that did not answer has Err set.
	PingAll(ctx context.Context) []PingResult
	// Call calls the process (capability, id) with payload and returns
	// its reply, and the outcome label under which the node counted the
	// call in its metrics (such as "ok" or "deadline"). Its error is
	// marked ErrInvalid for a request the node refuses as invalid (400);
	// otherwise the call failed (502).
	Call(ctx context.Context, capability, id string, payload proto.Message) (reply proto.Message, outcome string, err error)
	// Ready returns nil while the node should be sent traffic (mesh: it
	// has joined its cluster, its view has converged, and it is not
	// draining), or an error saying why not.
	Ready() error
	// Metrics is what GET /metrics serves.
	Metrics() prometheus.Gatherer
	// Rings returns, for each capability some member offers, how many
	// shards each node of its ring owns, sorted by capability: the
	// placement of RoutingVersion. The dashboard calls it again each
	// time RoutingVersion changes, so it should be cheap (one pass over
	// the shards of each ring, no network).
	Rings() []RingInfo
	// Events subscribes to the node's membership events, holding at most
	// buf events the endpoint has not taken (see EventStream). The stream
	// ends when ctx ends, on its Close, or when the node closes. Its error
	// is marked ErrUnavailable when the node is closing.
	Events(ctx context.Context, buf int) (EventStream, error)
}

// EventStream is a subscription to a Node's membership events.
type EventStream interface {
	// C delivers the events in the order the node heard of them: first
	// one "present" event per member, then every change. An event of Kind
	// "missed" stands where events were dropped because the endpoint fell
	// behind. C is closed when the stream ends.
	C() <-chan EventInfo
	// Err says why the stream ended: nil after Close or while it goes on.
	Err() error
	// Close ends the stream. It is idempotent.
	Close()
}

// EventInfo is one membership event of a Node.
type EventInfo struct {
	// Kind is the event's name: "present", "joined", "left", "failed",
	// "capabilities_changed", "labels_changed", "draining", "restarted"
	// or "missed".
	Kind string
	// Member is the member as of the event; zero for "missed".
	Member       string
	Self         bool
	GossipAddr   string
	RemoteAddr   string
	Capabilities []string
	Labels       map[string]string
	Draining     bool
	Incarnation  uint64
	// At is when the node heard of the change.
	At time.Time
	// Missed counts the events dropped, for "missed".
	Missed int
}

// MemberInfo is a member of the cluster as a Node sees it.
type MemberInfo struct {
	Name       string
	Self       bool
	State      string // "alive", "suspect" or "draining"
	GossipAddr string
	RemoteAddr string
	// Capabilities are what the member offers; Labels are its labels.
	Capabilities []string
	Labels       map[string]string
	// LastSeen is when the node last heard from the member, ProbeRTT the
	// round trip of its last acknowledged probe (zero if none).
	LastSeen time.Time
	ProbeRTT time.Duration
}

// ActivationInfo is a process active on a Node.
type ActivationInfo struct {
	Capability string
	ID         string
	Shard      uint32
	PID        string
	// Since is when the activation was made, LastUsed when its last
	// message arrived.
	Since    time.Time
	LastUsed time.Time
	// Origin is where the process's state came from: "handoff", "store",
	// or "" (it started empty).
	Origin string
}

// Placement is where a process lives as a Node sees it.
type Placement struct {
	Capability string
	ID         string
	Shard      uint32
	// Owner is the node that owns Shard on the capability's ring;
	// RingNodes are the nodes on the ring.
	Owner          string
	RingNodes      []string
	RingVersion    uint64
	RoutingVersion uint64
	// Requires are the labels every node on the ring carries; Members
	// are the members the node considered for the ring, sorted by name.
	Requires map[string]string
	Members  []RingMember
}

// RingInfo is the ring of one capability as a Node sees it: who owns how
// many of its shards.
type RingInfo struct {
	Capability string
	Version    uint64
	// Shards is the ring's shard count; Owners counts the shards each
	// node of the ring owns, and sums to Shards.
	Shards int
	Owners map[string]int
}

// ClusterStatus is the health of the cluster as a Node sees it.
type ClusterStatus struct {
	// Node is the node that answered, and RoutingVersion its placement.
	Node           string
	RoutingVersion uint64
	// Status is "running" or "degraded"; Reasons says why it is
	// degraded, sorted by kind and subject.
	Status  string
	Reasons []Reason
	// Members counts the members by state.
	Members map[string]int
	// RoutingVersions is the placement every member that answered a ping
	// routes by, by member name.
	RoutingVersions map[string]uint64
	CheckedAt       time.Time
}

// PingResult is a member's answer to a ping through the mesh.
type PingResult struct {
	// Node is the member that answered.
	Node           string
	RTT            time.Duration
	RoutingVersion uint64
	AdminAddr      string
	Activations    int64
	Draining       bool
	// Err is set, by PingAll, when the member did not answer.
	Err error
}
