package mesh

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/cluster"
	"github.com/meshrun/mesh/internal/transport"
	"github.com/meshrun/mesh/shard"
	"github.com/meshrun/mesh/store"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MaxIDLen is the longest process ID, in bytes.
const MaxIDLen = 256

// DefaultMaxPayload is Config.MaxPayload when it is zero: 4 MiB.
const DefaultMaxPayload = 4 << 20

// maxMaxPayload bounds Config.MaxPayload: frames of the transport must
// stay well within what one node buffers for one peer.
const maxMaxPayload = 64 << 20

// Config configures a Node. Start it from DefaultLocalConfig or
// DefaultLANConfig and set at least NodeName and, for every node but the
// first, Seeds.
type Config struct {
	// NodeName names the node in the cluster: stable across restarts and
	// unique. Required.
	NodeName string

	// GossipAddr is the host:port where membership gossip listens (UDP
	// and TCP). Port 0 picks a free port.
	GossipAddr string
	// GossipAdvertiseAddr is the host:port other nodes use to reach
	// GossipAddr. If empty, the bound address.
	GossipAdvertiseAddr string

	// RemoteAddr is the host:port of the node's transport: the gRPC
	// streams other nodes send messages on.
	// Port 0 picks a free port.
	RemoteAddr string
	// TransportTLS, if set, secures the transport with mutual TLS, and
	// every node proves with its certificate which node it is: a node
	// takes messages only from members, each sent in its own name (from
	// the address the member gossips), and dials a member only if the
	// server's certificate names that member. A node's certificate names
	// it with the URI SAN mesh://node/NAME (package certs; `mesh certs
	// node NAME` makes one) and must also be valid for the host other
	// nodes dial (RemoteAdvertiseAddr, else RemoteAddr). LoadTLS builds
	// this configuration from PEM files. Start fails with
	// ErrInvalidConfig when it does not require and verify client
	// certificates (ClientAuth tls.RequireAndVerifyClientCert), lacks
	// ClientCAs or RootCAs (nil would trust the system's roots), sets
	// InsecureSkipVerify or GetConfigForClient, or has Certificates that
	// do not name NodeName. Without Certificates, set both GetCertificate
	// and GetClientCertificate: the certificates they return are checked
	// at every handshake instead, and a handshake with one that does not
	// name the node fails. Every node of a cluster must use TLS or none.
	// If nil (the default), the transport is plaintext and trusts every
	// peer. Gossip is not covered: see GossipKeys.
	TransportTLS *tls.Config

	// GossipKeys, if set, encrypt and authenticate membership gossip with
	// AES-GCM (memberlist's keyring). The first key seals everything the
	// node sends; gossip sealed with any of the keys is accepted, and
	// anything else, plaintext included, is dropped. Each key is 16, 24
	// or 32 bytes (AES-128, -192 or -256; ParseGossipKey reads one in
	// base64) and no two are equal. Every node of a cluster needs the key
	// the others seal with: a node without it never joins, and a node
	// with keys never joins a plaintext cluster. Every key admits its
	// holder as a member that may claim any capability, so keep them
	// secret. Node.AddGossipKey, UseGossipKey and RemoveGossipKey rotate
	// keys without a restart (README.md, "Securing gossip"). If empty (the
	// default), gossip is plaintext: anyone who reaches GossipAddr can
	// join the cluster.
	GossipKeys [][]byte
	// ClusterLabel, if set, names the cluster on every gossip packet and
	// stream: gossip with another label, or none, is dropped, so clusters
	// that share a network, or a node given another cluster's seeds,
	// never merge. It travels in clear and is no secret; with GossipKeys
	// it is authenticated too. At most 255 bytes. If empty (the default),
	// gossip carries no label. Every node of a cluster must use the same.
	ClusterLabel string

	// RemoteAdvertiseAddr is the host (or host:port) other nodes dial to
	// reach RemoteAddr. Required when RemoteAddr's host is unspecified
	// (0.0.0.0 or ::); if it has no port, the bound port is used.
	RemoteAdvertiseAddr string

	// Seeds are gossip addresses of nodes to join at start and again
	// whenever they are not members. Empty for the first node.
	Seeds []string
	// SeedsDNS, if set, is a DNS name whose records are seeds too, such as
	// a Kubernetes headless service's: looked up at start and again at
	// every re-join round (RejoinInterval), and the addresses that are
	// not members, this node's own excluded, are joined. A name without a
	// port is looked up as SRV records, each giving its port
	// ("_gossip._tcp.mesh.default.svc.cluster.local"); a name with a port,
	// as A and AAAA records, each address with that port
	// ("mesh.default.svc.cluster.local:7946"). At most 32 addresses are
	// used per lookup (cluster.MaxDNSSeeds). A name with no records is no
	// error: the node starts alone. A failed lookup does not fail Start
	// either: it is logged, at most once per RejoinInterval, and retried.
	// Until an answer lists the node's own gossip address (its
	// GossipAdvertiseAddr, or the address it binds), lookups come faster,
	// from every half second up to every 5 s, and the node is not
	// ready (Node.Ready), though it serves: in Kubernetes, give the
	// service publishNotReadyAddresses and advertise the pod's IP. Whoever
	// controls the answers chooses the addresses the node dials for
	// gossip: use a resolver you trust.
	SeedsDNS string
	// Resolver looks SeedsDNS up. If nil, net.DefaultResolver.
	Resolver *net.Resolver

	// Shards is the number of shards IDs hash to. It must be the same on
	// every node of a cluster. If zero, defaults to 4096; at most 65536.
	Shards int

	// CallTimeout bounds a Call whose context has no deadline. If zero,
	// defaults to 5 s.
	CallTimeout time.Duration

	// MaxPayload bounds a payload and a reply, in bytes of their protobuf
	// encoding: a larger one fails at once with ErrPayloadTooLarge, on a
	// local call as on a remote one, and nothing is sent. Every node of a
	// cluster should use the same value. If zero, defaults to 4 MiB
	// (gRPC's default message limit); at most 64 MiB.
	MaxPayload int

	// Labels are key/values gossiped with the node (region=eu, zone=b),
	// which capabilities may require of the nodes on their rings
	// (Capability.Requires, Capability.SplitBy). Keys and values follow
	// capability.ValidateLabel: 1 to 63 bytes of letters, digits, '.',
	// '-', '_' (and '/' in keys). They are fixed for the life of the node:
	// Start copies them, and a node takes other labels by a restart. The
	// label CapacityLabel, if set, weighs the node on every ring.
	Labels map[string]string

	// DrainTimeout is how long Close waits at least, after telling the
	// cluster the node is leaving, for the other nodes to route away from
	// it; it then waits on until no peer has routed a call to it for 100
	// ms, redirecting those that still do, up to ten DrainTimeouts. If
	// zero, defaults to 500 ms (local) or 2 s (LAN).
	DrainTimeout time.Duration

	// Store, if set, keeps the state of processes that implement
	// actor.Snapshotter across what a handoff does not cover: a process
	// loads its last saved state before its first message on any node,
	// and saves it when it passivates, when its node closes with no other
	// node to take it, and when a handoff fails. Every write carries the
	// version it follows, so a stale activation cannot overwrite a newer
	// state (store.ErrStale). See package store.
	Store store.Store

	// Partition is what the node does when it loses sight of part of the
	// cluster: PartitionMajority (the default) or PartitionAvailability.
	Partition PartitionPolicy
	// ForgetFailedAfter is how long a member that failed without leaving
	// still counts against the majority (PartitionMajority). If zero,
	// DefaultForgetFailedAfter.
	ForgetFailedAfter time.Duration

	// HandoffTimeout bounds a state handoff (actor.Snapshotter): the new
	// owner holds the messages of a moved process for its state that long
	// at most before starting it (from the store, if any, or empty); the
	// old owner waits three quarters of it for its moved processes to
	// snapshot and for the new owner to take their states, then saves to
	// the store what did not go (a quarter more), and a process that
	// stops later saves there itself. If zero, defaults to 5 s.
	HandoffTimeout time.Duration

	// RejoinInterval is how often seeds that are not members are joined
	// again. If zero, defaults to 5 s (local) or 30 s (LAN).
	RejoinInterval time.Duration

	// Logger receives the node's logs; it is quiet at Info. If nil, logs
	// are dropped.
	Logger *slog.Logger

	// AdminAddr is the host:port of the node's admin HTTP endpoint: JSON
	// views of members, activations, placement and cluster status,
	// Prometheus /metrics, /healthz and /readyz (see doc.go). Port 0 picks
	// a free port. If empty (the default), there is no endpoint. Without
	// AdminTokens or AdminTLS it has no authentication: bind it to an
	// address only operators reach (the node logs a warning otherwise).
	AdminAddr string
	// AdminCalls lets POST /v1/call on the admin endpoint call any process
	// with a JSON payload, for debugging. Off by default.
	AdminCalls bool
	// AdminTokens, if set, are the bearer tokens the admin endpoint
	// accepts (admin.Options.Tokens): every route but /healthz and
	// /readyz then needs "Authorization: Bearer SECRET" (cmd/mesh sends
	// --token or $MESH_TOKEN). A token of admin.RoleRead may read every
	// route, /metrics included; POST /v1/call also needs
	// admin.RoleOperator. Each secret is at least 16 bytes of base64 or
	// hex characters, such as `openssl rand -base64 32` prints; give
	// every node of a cluster the same tokens, since cmd/mesh sends one
	// token to all. If empty (the default), the endpoint has no
	// authentication.
	AdminTokens []admin.Token
	// AdminTLS, if set, serves the admin endpoint over HTTPS with these
	// credentials (admin.Options.TLS). With ClientAuth
	// tls.VerifyClientCertIfGiven or tls.RequireAndVerifyClientCert, and
	// ClientCAs, a client certificate that verifies is an operator. If nil
	// (the default), plain HTTP.
	AdminTLS *tls.Config

	// TracerProvider, if set, records an OpenTelemetry span for every Call
	// and Cast and one around every message a process handles. Whether
	// set or not, the trace context of a Call's ctx travels with it to
	// the process's node (see actor.Context.Context).
	TracerProvider trace.TracerProvider
	// Propagator encodes trace context into the messages between nodes.
	// If nil, W3C Trace Context and Baggage.
	Propagator propagation.TextMapPropagator

	lan bool
	// cut injects a network fault into gossip (cluster.Config.Cut), and
	// transportCut into the node-to-node transport (transport.Options.Cut);
	// set only by tests and package meshtest (see internal/faults).
	cut, transportCut func(addr string) bool
}

// DefaultLocalConfig returns a configuration for nodes on one host: loopback
// addresses with free ports and fast failure detection (a crashed node is
// declared dead within about 2-5 s). Gossip is plaintext; set GossipKeys
// (and ClusterLabel) on every node to encrypt it.
func DefaultLocalConfig() Config {
	return Config{
		GossipAddr:  "127.0.0.1:0",
		RemoteAddr:  "127.0.0.1:0",
		Shards:      shard.DefaultShards,
		CallTimeout: 5 * time.Second,
	}
}

// DefaultLANConfig returns a configuration for nodes on one network: the
// node named after the host, gossip on port 7946 and actor messages on port
// 8090 of every interface, and memberlist's LAN timings. Set
// RemoteAdvertiseAddr to the host's address on that network. Gossip is
// plaintext, so anyone on the network can join: set GossipKeys (and
// ClusterLabel) on every node to encrypt it, and TransportTLS to secure
// the transport.
func DefaultLANConfig() Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:    host,
		GossipAddr:  "0.0.0.0:7946",
		RemoteAddr:  "0.0.0.0:8090",
		Shards:      shard.DefaultShards,
		CallTimeout: 5 * time.Second,
		lan:         true,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Shards == 0 {
		c.Shards = shard.DefaultShards
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 500 * time.Millisecond
		if c.lan {
			c.DrainTimeout = 2 * time.Second
		}
	}
	if c.HandoffTimeout == 0 {
		c.HandoffTimeout = 5 * time.Second
	}
	if c.ForgetFailedAfter == 0 {
		c.ForgetFailedAfter = DefaultForgetFailedAfter
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = 5 * time.Second
		if c.lan {
			c.RejoinInterval = 30 * time.Second
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// The node's own: a caller changing its map must not race gossip.
	c.Labels = maps.Clone(c.Labels)
	return c
}

// validate reports the first problem of c, wrapping ErrInvalidConfig.
func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.NodeName == "" {
		return bad("NodeName is required")
	}
	if len(c.NodeName) > 128 {
		return bad("NodeName is over 128 bytes")
	}
	if !utf8.ValidString(c.NodeName) {
		return bad("NodeName %q is not valid UTF-8", c.NodeName)
	}
	if c.Partition != PartitionMajority && c.Partition != PartitionAvailability {
		return bad("Partition %v is not a policy", c.Partition)
	}
	if c.Shards < 1 || c.Shards > shard.MaxShards {
		return bad("Shards %d is outside [1, %d]", c.Shards, shard.MaxShards)
	}
	if c.CallTimeout < 0 || c.DrainTimeout < 0 || c.RejoinInterval < 0 || c.HandoffTimeout < 0 || c.ForgetFailedAfter < 0 {
		return bad("durations must not be negative")
	}
	if c.MaxPayload < 0 || c.MaxPayload > maxMaxPayload {
		return bad("MaxPayload %d is outside [0, %d]", c.MaxPayload, maxMaxPayload)
	}
	if c.AdminAddr != "" {
		if _, _, err := splitHostPort(c.AdminAddr); err != nil {
			return bad("AdminAddr %q: %v", c.AdminAddr, err)
		}
	}
	if err := c.adminOptions().Validate(); err != nil {
		// Its errors name admin.Options' fields: Tokens, TLS.
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for field, addr := range map[string]string{"GossipAddr": c.GossipAddr, "RemoteAddr": c.RemoteAddr} {
		if _, _, err := splitHostPort(addr); err != nil {
			return bad("%s %q: %v", field, addr, err)
		}
	}
	if c.GossipAdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.GossipAdvertiseAddr); err != nil {
			return bad("GossipAdvertiseAddr %q: %v", c.GossipAdvertiseAddr, err)
		}
	}
	host, _, _ := splitHostPort(c.RemoteAddr)
	if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && c.RemoteAdvertiseAddr == "" {
		return bad("RemoteAdvertiseAddr is required when RemoteAddr %q binds every interface", c.RemoteAddr)
	}
	for _, s := range c.Seeds {
		if _, _, err := splitHostPort(s); err != nil {
			return bad("seed %q: %v", s, err)
		}
	}
	if c.SeedsDNS != "" {
		if err := (&cluster.DNS{Name: c.SeedsDNS}).Validate(); err != nil {
			return fmt.Errorf("%w: SeedsDNS: %w", ErrInvalidConfig, err)
		}
	}
	if err := cluster.ValidateKeys(c.GossipKeys); err != nil {
		return fmt.Errorf("%w: GossipKeys: %w", ErrInvalidConfig, err)
	}
	if err := capability.ValidateLabels(c.Labels); err != nil {
		return fmt.Errorf("%w: Labels: %w", ErrInvalidConfig, err)
	}
	if v, ok := c.Labels[CapacityLabel]; ok && capacity(c.Labels) == 0 {
		return bad("label %s=%s: want an integer from 1 to %d", CapacityLabel, v, shard.MaxWeight)
	}
	if err := cluster.ValidateLabel(c.ClusterLabel); err != nil {
		return fmt.Errorf("%w: ClusterLabel: %w", ErrInvalidConfig, err)
	}
	if c.TransportTLS != nil {
		if err := transport.ValidateTLS(c.TransportTLS, c.NodeName); err != nil {
			return fmt.Errorf("%w: TransportTLS: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}
