// Command counter is mesh's quick start as a program: a "counter" capability
// whose processes each keep the count of one ID, served by a cluster of
// nodes that are separate OS processes.
//
// Run with no flags (or -demo), it starts three nodes as child processes
// over one SQLite file, joins them as a client, spreads calls over twelve
// IDs, stops one node gracefully (its counters are handed to the others),
// kills another with SIGKILL (its counters come back from the file) and
// shows where those IDs answer from and what they count. With -node it is
// one node of such a cluster; with -call it is a client that adds 1 to the
// counters it names. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/examples/counter/counterpb"
	"github.com/meshrun/mesh/examples/internal/secure"
	"github.com/meshrun/mesh/store/sqlite"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// capabilityName is the capability every node of the example offers.
const capabilityName = "counter"

// childEnv is set in the environment of the nodes the demo starts. The
// program itself selects its mode by flags; a test binary that re-executes
// itself as a node checks it in TestMain.
const childEnv = "MESH_COUNTER_CHILD"

// counter is the process behind one counter ID. Handle is never called
// concurrently, so value needs no lock.
type counter struct {
	node  string
	value int64
}

// Handle adds an Add's delta to the count and replies to Add and Get with
// the count and the node that holds it.
func (c *counter) Handle(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
	switch m := msg.(type) {
	case *counterpb.Add:
		c.value += m.GetDelta()
		ctx.Changed() // saved before the reply, when the node has a store
	case *counterpb.Get:
	default:
		return nil, fmt.Errorf("counter: unexpected message %T", msg)
	}
	return &counterpb.Value{Value: c.value, Node: c.node, Id: ctx.ID()}, nil
}

// Snapshot is the count, handed to the node that takes the counter over
// when it moves (a node joins, or drains and leaves) and saved to the
// store: format 1.
func (c *counter) Snapshot() (proto.Message, uint32, error) {
	return wrapperspb.Int64(c.value), 1, nil
}

// Restore starts the counter from a handed-off or stored count.
func (c *counter) Restore(state proto.Message, format uint32) error {
	v, ok := state.(*wrapperspb.Int64Value)
	if !ok || format != 1 {
		return fmt.Errorf("counter: state %T in format %d, want an Int64Value in format 1", state, format)
	}
	c.value = v.GetValue()
	return nil
}

// counterCapability is the capability a node named node offers. With a
// store, every change is saved before its reply.
func counterCapability(node string, stored bool) mesh.Capability {
	c := mesh.Capability{
		Name: capabilityName,
		New:  func(string) mesh.Process { return &counter{node: node} },
	}
	if stored {
		c.Save = mesh.SaveOnChange
	}
	return c
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the program with args and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		demo      = fs.Bool("demo", false, "run the three-node demo (the default when no mode is given)")
		node      = fs.String("node", "", "run one node with this `name`, offering counter, until SIGINT or SIGTERM")
		call      = fs.String("call", "", "join through -seeds as a client, add 1 to each of these comma-separated `IDs` and print who answered")
		gossip    = fs.String("gossip", "127.0.0.1:0", "gossip `address` of a node (port 0 picks a free port)")
		remote    = fs.String("remote", "127.0.0.1:0", "actor message `address` of a node (port 0 picks a free port)")
		seeds     = fs.String("seeds", "", "comma-separated gossip `addresses` of nodes to join")
		storePath = fs.String("store", "", "with -node, the SQLite `file` that keeps every count, saved after every change; the nodes of one machine may share it")
		tlsDir    = fs.String("tls-dir", "", "with -node or -call, secure the transport with mutual TLS: the `directory` holds ca.crt, NAME.crt and NAME.key (mesh certs); $MESH_GOSSIP_KEY, if set, seals gossip")
		secured   = fs.Bool("secure", false, "run the demo secured: a CA, node certificates and a gossip key made for it")
		verbose   = fs.Bool("v", false, "log at Info rather than only warnings")
		exitOnEOF = fs.Bool("exit-on-eof", false, "with -node, also stop when standard input closes (the demo uses it so its nodes never outlive it)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  counter [-demo] [-secure]\n  counter -node NAME [-gossip ADDR] [-remote ADDR] [-seeds ADDR,...] [-store FILE] [-tls-dir DIR]\n  counter -call ID,... -seeds ADDR,... [-tls-dir DIR]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *node != "" && (*call != "" || *demo) || *call != "" && *demo || *storePath != "" && *node == "" || *secured && (*node != "" || *call != "") {
		fs.Usage()
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	var err error
	switch {
	case *node != "":
		if *exitOnEOF {
			ctx = stopOnEOF(ctx, os.Stdin)
		}
		err = runNode(ctx, nodeConfig{
			name: *node, gossip: *gossip, remote: *remote, seeds: splitList(*seeds),
			store: *storePath, tlsDir: *tlsDir, logger: newLogger(stderr, level),
		}, stdout)
	case *call != "":
		err = runCall(ctx, splitList(*seeds), splitList(*call), *tlsDir, newLogger(stderr, level), stdout)
	default:
		_, err = runDemo(ctx, *secured, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "counter:", err)
		return 1
	}
	return 0
}

// nodeConfig is what -node runs.
type nodeConfig struct {
	name, gossip, remote string
	seeds                []string
	// store is the SQLite file the node keeps counts in; "" for none.
	store string
	// tlsDir holds the transport's certificates; "" for plaintext.
	tlsDir string
	logger *slog.Logger
}

// runNode runs one node offering counter until ctx ends, then closes it
// gracefully. Once the node serves, it prints a line of the form
//
//	node-1 ready gossip=127.0.0.1:7001 remote=127.0.0.1:8001
//
// which the demo reads to learn the node's addresses.
func runNode(ctx context.Context, nc nodeConfig, stdout io.Writer) error {
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = nc.name
	cfg.GossipAddr = nc.gossip
	cfg.RemoteAddr = nc.remote
	cfg.Seeds = nc.seeds
	cfg.Logger = nc.logger
	if _, err := secure.Apply(&cfg, nc.tlsDir); err != nil {
		return err
	}
	if nc.store != "" {
		st, err := sqlite.Open(nc.store)
		if err != nil {
			return err
		}
		defer st.Close() // after the node has closed
		cfg.Store = st
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	n, err := mesh.Start(startCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	if err := n.RegisterCapabilities(counterCapability(n.Name(), cfg.Store != nil)); err != nil {
		_ = n.Close(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "%s ready gossip=%s remote=%s\n", n.Name(), n.GossipAddr(), n.RemoteAddr())
	<-ctx.Done()
	fmt.Fprintf(stdout, "%s leaving the cluster\n", n.Name())
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(closeCtx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s closed\n", n.Name())
	return nil
}

// runCall joins the cluster through seeds as a node that offers nothing,
// adds 1 to the counter of each of ids and prints who answered.
func runCall(ctx context.Context, seeds, ids []string, tlsDir string, logger *slog.Logger, stdout io.Writer) error {
	if len(seeds) == 0 || len(ids) == 0 {
		return errors.New("-call needs IDs and -seeds")
	}
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = fmt.Sprintf("client-%d", os.Getpid())
	if tlsDir != "" {
		cfg.NodeName = "client" // the name its certificate gives
	}
	cfg.Seeds = seeds
	cfg.Logger = logger
	if _, err := secure.Apply(&cfg, tlsDir); err != nil {
		return err
	}
	n, err := mesh.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(closeCtx)
	}()
	if _, err := waitFor(ctx, 10*time.Second, func() bool { return len(offering(n)) > 0 && routed(n) }); err != nil {
		return fmt.Errorf("no node offers %s: %w", capabilityName, err)
	}
	t := newTable(stdout, "ID", "SERVED BY", "COUNT")
	failed := 0
	for _, id := range ids {
		v, err := add(ctx, n, id)
		if err != nil {
			failed++
			t.row(id, "error: "+err.Error(), "")
			continue
		}
		t.row(id, v.GetNode(), v.GetValue())
	}
	if err := t.flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d calls failed", failed, len(ids))
	}
	return nil
}

// add adds 1 to the counter id through n.
func add(ctx context.Context, n *mesh.Node, id string) (*counterpb.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := n.Call(ctx, mesh.Request{Capability: capabilityName, ID: id, Payload: &counterpb.Add{Delta: 1}})
	if err != nil {
		return nil, err
	}
	v, ok := reply.(*counterpb.Value)
	if !ok {
		return nil, fmt.Errorf("unexpected reply %T", reply)
	}
	return v, nil
}

// offering returns the names of the members that offer counter and are not
// leaving, as n sees them.
func offering(n *mesh.Node) []string {
	var names []string
	for _, m := range n.Members() {
		for _, c := range m.Capabilities {
			if c == capabilityName && !m.Draining {
				names = append(names, m.Name)
			}
		}
	}
	return names
}

// routed reports whether n routes counter calls to every member that
// offers it. Members come from gossip and the routing snapshot follows them
// a moment later, so a node that lists a member may not route to it yet.
func routed(n *mesh.Node) bool {
	return len(owners(n, 256)) == len(offering(n))
}

// owners returns the nodes that own at least one of n sample IDs, as n
// sees the ring now.
func owners(node *mesh.Node, n int) []string {
	seen := map[string]bool{}
	for i := range n {
		if p, err := node.Locate(capabilityName, fmt.Sprintf("sample-%d", i)); err == nil {
			seen[p.Owner] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// waitFor polls cond until it holds, ctx ends or timeout passes, and
// returns how long it waited.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("gave up after %v", time.Since(start).Round(time.Millisecond))
		case <-tick.C:
		}
	}
	return time.Since(start), nil
}

// stopOnEOF returns a context that ends when r reaches end of file, which
// for a pipe from the demo means the demo is gone.
func stopOnEOF(ctx context.Context, r io.Reader) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		_, _ = io.Copy(io.Discard, r)
	}()
	return ctx
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

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
