// Command game runs game sessions on mesh, placed by region: every node
// registers one capability, "game", split by its label region
// (mesh.Capability.SplitBy), so there is one ring per region. A node in
// region R carries the label region=R and offers "game@R"; a session of
// region R is a process of "game@R" (mesh.Scope("game", R)), so it lives
// only on a node of that region, wherever it is called from, and moves
// only within the region when a node leaves.
//
// Run with no flags (or -demo), it starts four nodes in this process, two
// in region eu and two in us, plays sessions of both regions through nodes
// of both, then stops an eu node and shows its sessions move to the other
// eu node. With -node it is one node of a cluster of separate processes,
// such as scripts/cluster.sh starts. See README.md.
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
	"strings"
	"syscall"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/examples/game/gamepb"
	"github.com/meshrun/mesh/examples/internal/secure"
	"google.golang.org/protobuf/proto"
)

// capabilityOf returns the capability of the sessions of region: the
// scoped name "game@REGION".
func capabilityOf(region string) string { return mesh.Scope("game", region) }

// session is the process of one game session. Handle is never called
// concurrently, so its fields need no lock.
type session struct {
	node, region string
	scores       map[string]int64
}

// Handle adds players and points and replies with the session's state.
func (s *session) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	if s.scores == nil {
		s.scores = map[string]int64{}
	}
	switch m := msg.(type) {
	case *gamepb.Join:
		if m.GetPlayer() == "" {
			return nil, errors.New("join: no player")
		}
		if _, ok := s.scores[m.GetPlayer()]; !ok {
			s.scores[m.GetPlayer()] = 0
		}
	case *gamepb.Score:
		if _, ok := s.scores[m.GetPlayer()]; !ok {
			return nil, fmt.Errorf("score: %q has not joined", m.GetPlayer())
		}
		s.scores[m.GetPlayer()] += m.GetPoints()
	case *gamepb.Get:
	default:
		return nil, fmt.Errorf("session: unexpected message %T", msg)
	}
	return &gamepb.State{Session: ctx.ID(), Region: s.region, Node: s.node, Scores: s.scores}, nil
}

// Snapshot is the session's scores, handed to the node that takes the
// session over when it moves: format 1.
func (s *session) Snapshot() (proto.Message, uint32, error) {
	return &gamepb.State{Region: s.region, Scores: s.scores}, 1, nil
}

// Restore starts the session from handed-off scores.
func (s *session) Restore(state proto.Message, format uint32) error {
	st, ok := state.(*gamepb.State)
	if !ok || format != 1 {
		return fmt.Errorf("session: state %T in format %d, want a State in format 1", state, format)
	}
	s.scores = st.GetScores()
	return nil
}

// sessionCapability is the capability every node registers: "game", one
// ring per value of the label region. A node labelled region=R offers
// "game@R"; region is R, for the sessions' replies.
func sessionCapability(node, region string) mesh.Capability {
	return mesh.Capability{Name: "game", SplitBy: "region", New: func(string) mesh.Process {
		return &session{node: node, region: region}
	}}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the program with args and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("game", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		demo       = fs.Bool("demo", false, "run the four-node demo in this process (the default)")
		node       = fs.String("node", "", "run one node with this `name` until SIGINT or SIGTERM")
		region     = fs.String("region", "", "with -node, the node's `region`: it gets the label region=REGION and offers game@REGION")
		gossip     = fs.String("gossip", "127.0.0.1:0", "gossip `address` of the node (port 0 picks a free port)")
		remote     = fs.String("remote", "127.0.0.1:0", "actor message `address` of the node")
		adminAddr  = fs.String("admin", "", "admin endpoint `address` of the node, for cmd/mesh; empty for none")
		adminCalls = fs.Bool("admin-calls", false, "let the admin endpoint take calls (mesh call)")
		adminToken = fs.String("admin-token", "", "operator `token` the admin endpoint requires (16 bytes or more); if empty, $MESH_TOKEN")
		seeds      = fs.String("seeds", "", "comma-separated gossip `addresses` of nodes to join")
		tlsDir     = fs.String("tls-dir", "", "secure the transport with mutual TLS: the `directory` holds ca.crt, NAME.crt and NAME.key (mesh certs); $MESH_GOSSIP_KEY, if set, seals gossip")
		verbose    = fs.Bool("v", false, "log at Info rather than only warnings")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  game [-demo]\n  game -node NAME -region REGION [-gossip ADDR] [-remote ADDR] [-admin ADDR [-admin-calls] [-admin-token T]] [-seeds ADDR,...] [-tls-dir DIR]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *demo && *node != "" || (*node == "") != (*region == "") {
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
		cfg.NodeName, cfg.GossipAddr, cfg.RemoteAddr, cfg.Seeds = *node, *gossip, *remote, splitList(*seeds)
		cfg.AdminAddr, cfg.AdminCalls, cfg.AdminTokens = *adminAddr, *adminCalls, adminTokens(*adminToken)
		cfg.Labels = map[string]string{"region": *region}
		cfg.Logger = newLogger(stderr, level)
		if _, err = secure.Apply(&cfg, *tlsDir); err == nil {
			err = runNode(ctx, cfg, stdout)
		}
	} else {
		_, err = runDemo(ctx, stdout, newLogger(stderr, level))
	}
	if err != nil {
		fmt.Fprintln(stderr, "game:", err)
		return 1
	}
	return 0
}

// runNode runs one node offering the sessions of its region label until
// ctx ends, then leaves gracefully. Once it serves, it prints
//
//	eu-1 ready gossip=127.0.0.1:7101 remote=127.0.0.1:8101 admin=127.0.0.1:9101
func runNode(ctx context.Context, cfg mesh.Config, stdout io.Writer) error {
	n, err := mesh.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if err := n.RegisterCapabilities(sessionCapability(n.Name(), cfg.Labels["region"])); err != nil {
		_ = n.Close(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "%s ready gossip=%s remote=%s admin=%s\n", n.Name(), n.GossipAddr(), n.RemoteAddr(), n.AdminAddr())
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(closeCtx)
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
