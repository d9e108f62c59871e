// Command chat is a chat service on mesh: each room is a process (the
// capability "room", one process per room name) that keeps the room's
// history; members post to a room and read its history from any node, and
// never say where the room lives. When a room moves to another node (a
// node joins, or drains and leaves), its history moves with it.
//
// Run with no flags (or -demo), it starts three nodes in this process,
// lets three members, each on its own node, talk in three rooms, and reads
// every room's history back from every node. With -node it is one node of
// a cluster of separate processes, such as scripts/cluster.sh starts. See
// README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/examples/chat/chatpb"
	"github.com/meshrun/mesh/examples/internal/secure"
	"google.golang.org/protobuf/proto"
)

// capabilityName is the capability of room processes.
const capabilityName = "room"

// keep is how many messages a room keeps.
const keep = 100

// room is the process of one chat room. Handle is never called
// concurrently, so its fields need no lock.
type room struct {
	node     string
	seq      int64
	messages []*chatpb.Message // the last keep, oldest first
	members  map[string]bool
}

// Handle takes a Post, replying with its sequence number, or answers a
// History with the room's messages.
func (r *room) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	switch m := msg.(type) {
	case *chatpb.Post:
		if m.GetMember() == "" || m.GetText() == "" {
			return nil, errors.New("a post needs a member and a text")
		}
		r.seq++
		r.messages = append(r.messages, &chatpb.Message{
			Seq: r.seq, Member: m.GetMember(), Text: m.GetText(), UnixMs: time.Now().UnixMilli(),
		})
		if len(r.messages) > keep {
			r.messages = slices.Delete(r.messages, 0, len(r.messages)-keep)
		}
		if r.members == nil {
			r.members = map[string]bool{}
		}
		r.members[m.GetMember()] = true
		ctx.Changed() // saved before the reply, for a room that saves on change
		return &chatpb.Posted{Seq: r.seq, Node: r.node}, nil
	case *chatpb.History:
		var out []*chatpb.Message
		for _, msg := range r.messages {
			if msg.GetSeq() > m.GetAfterSeq() {
				out = append(out, msg)
			}
		}
		if limit := int(m.GetLimit()); limit > 0 && len(out) > limit {
			out = out[len(out)-limit:]
		}
		members := make([]string, 0, len(r.members))
		for name := range r.members {
			members = append(members, name)
		}
		slices.Sort(members)
		return &chatpb.Messages{Room: ctx.ID(), Messages: out, Node: r.node, Members: members}, nil
	}
	return nil, fmt.Errorf("room: unexpected message %T", msg)
}

// roomFormat is the version of RoomState's layout that Snapshot writes
// and Restore reads.
const roomFormat = 1

// Snapshot is the room's state, handed to the node that takes the room
// over when its shard moves (a node joins, or drains and leaves).
func (r *room) Snapshot() (proto.Message, uint32, error) {
	members := make([]string, 0, len(r.members))
	for name := range r.members {
		members = append(members, name)
	}
	slices.Sort(members)
	return &chatpb.RoomState{Seq: r.seq, Messages: r.messages, Members: members}, roomFormat, nil
}

// Restore starts the room from the state its previous node handed off.
func (r *room) Restore(state proto.Message, format uint32) error {
	st, ok := state.(*chatpb.RoomState)
	if !ok || format != roomFormat {
		return fmt.Errorf("room: state %T in format %d, want RoomState in format %d", state, format, roomFormat)
	}
	r.seq, r.messages = st.GetSeq(), st.GetMessages()
	r.members = make(map[string]bool, len(st.GetMembers()))
	for _, name := range st.GetMembers() {
		r.members[name] = true
	}
	return nil
}

// roomCapability is the capability a node named node offers.
func roomCapability(node string) mesh.Capability {
	return mesh.Capability{Name: capabilityName, New: func(string) mesh.Process { return &room{node: node} }}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the program with args and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		demo       = fs.Bool("demo", false, "run the three-node demo in this process (the default)")
		node       = fs.String("node", "", "run one node with this `name`, offering rooms, until SIGINT or SIGTERM")
		gossip     = fs.String("gossip", "127.0.0.1:0", "gossip `address` of the node (port 0 picks a free port)")
		remote     = fs.String("remote", "127.0.0.1:0", "actor message `address` of the node")
		adminAddr  = fs.String("admin", "", "admin endpoint `address` of the node, for cmd/mesh; empty for none")
		adminCalls = fs.Bool("admin-calls", false, "let the admin endpoint take calls (mesh call)")
		adminToken = fs.String("admin-token", "", "operator `token` the admin endpoint requires (16 bytes or more); if empty, $MESH_TOKEN")
		seeds      = fs.String("seeds", "", "comma-separated gossip `addresses` of nodes to join")
		seedsDNS   = fs.String("seeds-dns", os.Getenv("MESH_SEEDS_DNS"), "DNS `name` whose records are seeds, looked up again at every re-join round: SRV records without a port, A and AAAA records with NAME:PORT (default $MESH_SEEDS_DNS)")
		gossipAdv  = fs.String("gossip-advertise", "", "gossip `address` other nodes reach this one at, such as the pod's IP and the gossip port; if empty, the bound address")
		remoteAdv  = fs.String("remote-advertise", "", "`host` (or host:port) other nodes send actor messages to; required when -remote binds every interface")
		lan        = fs.Bool("lan", false, "use mesh's LAN profile (memberlist's LAN timings, re-join every 30 s, 2 s drains) rather than the local one")
		closeAfter = fs.Duration("close-timeout", 10*time.Second, "how long the node may take to drain and close on SIGTERM or SIGINT; keep it under Kubernetes' terminationGracePeriodSeconds")
		tlsDir     = fs.String("tls-dir", "", "secure the transport with mutual TLS: the `directory` holds ca.crt, NAME.crt and NAME.key (mesh certs); $MESH_GOSSIP_KEY, if set, seals gossip")
		verbose    = fs.Bool("v", false, "log at Info rather than only warnings")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  chat [-demo]\n  chat -node NAME [-gossip ADDR] [-remote ADDR] [-admin ADDR [-admin-calls] [-admin-token T]] [-seeds ADDR,...] [-seeds-dns NAME] [-tls-dir DIR]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *demo && *node != "" {
		fs.Usage()
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *node != "" {
		cfg := mesh.DefaultLocalConfig()
		if *lan {
			cfg = mesh.DefaultLANConfig()
		}
		cfg.NodeName, cfg.GossipAddr, cfg.RemoteAddr, cfg.Seeds = *node, *gossip, *remote, splitList(*seeds)
		cfg.GossipAdvertiseAddr, cfg.RemoteAdvertiseAddr, cfg.SeedsDNS = *gossipAdv, *remoteAdv, *seedsDNS
		cfg.AdminAddr, cfg.AdminCalls, cfg.AdminTokens = *adminAddr, *adminCalls, adminTokens(*adminToken)
		cfg.Logger = newLogger(stderr, level)
		if _, err = secure.Apply(&cfg, *tlsDir); err == nil {
			err = runNode(ctx, cfg, *closeAfter, stdout)
		}
	} else {
		err = runDemo(ctx, stdout, newLogger(stderr, level))
	}
	if err != nil {
		fmt.Fprintln(stderr, "chat:", err)
		return 1
	}
	return 0
}

// runNode runs one node offering rooms until ctx ends or the process is
// sent SIGTERM or SIGINT, then leaves gracefully within closeTimeout.
// Once it serves, it prints
//
//	node-1 ready gossip=127.0.0.1:7101 remote=127.0.0.1:8101 admin=127.0.0.1:9101
func runNode(ctx context.Context, cfg mesh.Config, closeTimeout time.Duration, stdout io.Writer) error {
	n, err := mesh.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if err := n.RegisterCapabilities(roomCapability(n.Name())); err != nil {
		_ = n.Close(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "%s ready gossip=%s remote=%s admin=%s\n", n.Name(), n.GossipAddr(), n.RemoteAddr(), n.AdminAddr())
	return n.CloseOnSignal(ctx, closeTimeout)
}

// newLogger logs at level and above to w as text, without timestamps.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// adminTokens is the operator token of the admin endpoint: flag, else
// $MESH_TOKEN, which cmd/mesh sends too; none if both are empty.
func adminTokens(flag string) []admin.Token {
	if flag == "" {
		flag = os.Getenv("MESH_TOKEN")
	}
	if flag == "" {
		return nil
	}
	return []admin.Token{{Secret: flag, Role: admin.RoleOperator}}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
