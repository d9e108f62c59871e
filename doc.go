// Package mesh is a runtime for distributed virtual actors addressed by
// capability and ID.
//
// Each node says, with RegisterCapabilities, which kinds of process it can
// host. A Call or Cast names a process by (capability, ID); the runtime
// hashes the ID to one of Config.Shards shards, a consistent-hash ring per
// capability gives each shard an owner among the nodes offering that
// capability, and the owner activates the process on its first message.
// Nobody says where a process lives, and when nodes join, leave or die the
// shards that moved are served by their new owners.
//
// # Usage
//
//	cfg := mesh.DefaultLocalConfig()
//	cfg.NodeName = "node-1"
//	cfg.Seeds = []string{"127.0.0.1:7946"} // gossip address of any member
//	node, err := mesh.Start(ctx, cfg)
//	if err != nil { ... }
//	defer node.Close(ctx)
//	err = node.RegisterCapabilities(mesh.Capability{
//		Name: "counter",
//		New:  func(id string) mesh.Process { return &counter{} },
//	})
//	reply, err := node.Call(ctx, mesh.Request{Capability: "counter", ID: "user-42", Payload: msg})
//
// Payloads and replies are protobuf messages, so what works on one node
// works across nodes. The package-level Call, Cast and
// RegisterCapabilities act on the default node: the first node Start made,
// or the one given to SetDefault.
//
// # Placement and rebalancing
//
// shard = xxhash64(ID) mod Shards; each capability has one bounded-load
// consistent-hash ring (buraksezer/consistent) over the names of the nodes
// offering it, so every node computes the same owner from the same member
// list, and a join moves about 1/(N+1) of the shards instead of modulo
// placement's N/(N+1). Membership and capabilities spread by memberlist
// gossip. The owner re-checks ownership of every message from the network
// and redirects a caller whose view is stale; callers cache the PID of
// remote activations and drop the entry when its node stops owning the
// shard or the activation is gone. When a shard moves in a planned change
// (a join, a drain or close, a capability withdrawn), the old owner lets
// the queued messages finish and hands the state of every process that
// implements actor.Snapshotter to the new owner, which holds the process's
// first messages until it has it.
//
// A capability may require node labels (Capability.Requires, over
// Config.Labels): its ring then covers only the nodes that offer it and
// carry them, and the requirement is gossiped with the capability so every
// node computes the same ring. Capability.SplitBy gives one capability a
// ring per value of a label, addressed by the scoped name Scope(name,
// value). Node.Locate says which members formed a ring and why the others
// are off it.
//
// # State
//
// A process that implements actor.Snapshotter moves with its state
// (Node.Drain, Close, joins). Config.Store keeps states through what a
// handoff does not cover: a process loads its last save before its first
// message and saves when it passivates, closes with no other node to take
// it, or fails to hand off; every write names the version it follows, so
// a stale activation's write is refused (package store). Capability's
// IdleTimeout and MaxActivations passivate idle and surplus processes.
// With PartitionAvailability both sides of a split serve; at the heal, a
// process that implements actor.Merger joins the state of the other
// side's activation of its ID into its own, and without it that state is
// dropped (mesh_handoffs_total{result="conflict"}).
//
// # Events and broadcast
//
// Subscribe delivers membership events (joined, left, failed, capabilities
// or labels changed, draining, restarted) in order, after one EventPresent
// per member; a subscriber that falls behind its buffer gets EventMissed
// with the count of those it lost, and gossip never waits for it.
// Broadcast casts one message to every active process of a capability on
// every node offering it, activating none, and says which nodes it did not
// reach.
//
//	sub, err := node.Subscribe(ctx, 64)
//	for e := range sub.C() { ... }
//	res, err := node.Broadcast(ctx, "room", msg) // ErrBroadcastIncomplete: see res.Failed
//
// # Errors
//
// Every error wraps one of the Err* sentinels; match with errors.Is. An
// error returned by a process arrives as a *ProcessError.
//
// # Operating a cluster
//
// With Config.AdminAddr set, a node serves an admin HTTP endpoint. Answers
// are JSON; cmd/mesh is the CLI over them and its README shows each
// answer.
//
//	GET  /v1/members      members: state (alive, suspect, draining), last seen,
//	                      capabilities, labels, gossip, remote and admin addresses
//	GET  /v1/activations  this node's processes: capability, ID, shard, age, idle
//	                      time (?capability=C, ?limit=N, default 1000, 0 for all)
//	GET  /v1/owner        ?capability=C&id=ID: owner, shard, ring and routing versions
//	GET  /v1/status       running, or degraded with the reasons (Node.Status)
//	GET  /v1/ping         round trip through the mesh to every member (?node=N)
//	GET  /v1/events       membership events as server-sent events (mesh watch)
//	POST /v1/call         call a process with a JSON payload (Config.AdminCalls)
//	GET  /metrics         Prometheus metrics (Node.Metrics)
//	GET  /healthz         200 while the node serves
//	GET  /readyz          200 once joined and converged, 503 before, while
//	                      draining and without quorum (Node.Ready)
//
// With Config.AdminTokens set, every route but the probes, /healthz and
// /readyz, needs a bearer token: a token of admin.RoleRead reads every
// view and /metrics, POST /v1/call needs admin.RoleOperator. With
// Config.AdminTLS the endpoint serves HTTPS, and a client certificate it
// verifies is an operator. Without tokens or verified certificates it has
// no authentication: bind it to an address only operators reach.
//
//	cfg.AdminAddr = "10.0.0.7:9101"
//	cfg.AdminTokens = []admin.Token{
//		{Secret: readToken},                              // admin.RoleRead
//		{Secret: operatorToken, Role: admin.RoleOperator}, // mesh call
//	}
//
// Each node has a Prometheus registry of its own: mesh_calls_total and
// mesh_casts_total by capability and outcome, mesh_call_duration_seconds
// by capability, mesh_activations by capability,
// mesh_activations_started_total and mesh_activations_stopped_total (by
// reason: moved, unregistered, closing, passivated),
// mesh_handoffs_total and mesh_store_operations_total (by capability and
// result), mesh_broadcasts_total (by capability and outcome) and
// mesh_broadcast_deliveries_total, mesh_rebalances_total,
// mesh_shards_moved_total, mesh_misaddressed_total (messages refused for
// naming another incarnation of the node or another process: PIDs cached
// before a restart), mesh_members by state, mesh_transport_frames_total and
// mesh_transport_messages_total (what this node sent to others: their
// ratio is how many messages a frame carried), and Go and process metrics.
//
// On Kubernetes, Config.SeedsDNS takes seeds from a headless service's DNS
// records, looked up again at every re-join round, and Node.CloseOnSignal
// drains the node on SIGTERM within the pod's grace period; the
// repository's deploy/kubernetes runs the chat example as a StatefulSet.
//
//	cfg.SeedsDNS = "_gossip._tcp.mesh.default.svc.cluster.local" // SRV records
//	err = node.CloseOnSignal(ctx, 25*time.Second)                // grace period: 30 s
//
// A Call or Cast carries the OpenTelemetry trace context of its ctx to the
// node of its process, so that one call is one trace across nodes; the
// process reaches it through Context.Context. With Config.TracerProvider
// set, mesh also records a client span per Call and Cast and a server span
// per message handled. Logs go to Config.Logger with node, capability and
// id attributes; at Info a node logs only what an operator acts on (start,
// close, placement changes, members failing), failed calls at Debug.
//
// # Securing gossip
//
// Gossip is plaintext unless Config.GossipKeys is set: anyone who reaches a
// node's gossip port can then join and claim any capability. With keys,
// gossip is sealed with AES-GCM under the first key, and a node that does
// not hold the key the others seal with never joins; Config.ClusterLabel
// keeps clusters that share a network apart. ParseGossipKey reads a key in
// base64. Keys rotate without a restart, each step on every node before
// the next (README.md, "Securing gossip"):
//
//	err = node.AddGossipKey(next)    // 1. accept the new key
//	err = node.UseGossipKey(next)    // 2. seal with it
//	err = node.RemoveGossipKey(prev) // 3. refuse the old one
//	node.GossipKeyFingerprints()     // [SHA-256 prefixes], primary first
//
// # Securing the transport
//
// The transport between nodes is plaintext unless Config.TransportTLS is
// set: mutual TLS, in which every node's certificate names it with the
// URI mesh://node/NAME (package certs; `mesh certs ca` and `mesh certs
// node NAME` make development ones). LoadTLS builds the configuration
// from PEM files:
//
//	cfg.TransportTLS, err = mesh.LoadTLS("certs/ca.crt", "certs/node-1.crt", "certs/node-1.key")
//
// A node then takes messages only from members, each in its own name,
// and dials a member only if the server's certificate names it; Start
// refuses a certificate that does not name Config.NodeName.
//
// # Limits
//
// Delivery is at most once. Single activation is guaranteed per node, and
// across the cluster only once the nodes' views have converged: during a
// membership change two nodes may briefly both host one ID. A crash loses
// what a process changed since its last save, all of it without a store.
// By default (PartitionMajority) a node that sees fewer than a majority of
// the cluster stops serving with ErrNoQuorum, once its failure detection
// has seen the others go; until then both sides of a split may serve.
//
// # Concurrency
//
// A Node is safe for concurrent use. Call takes no global lock: it reads an
// immutable routing snapshot behind an atomic pointer. A Process is never
// called concurrently with itself.
package mesh
