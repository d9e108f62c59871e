package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"
	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/store"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Shards is the shard count of the eigr/mesh suite.
const shards = 4096

// whereQuery is the payload an echo process answers with its node's name
// instead of echoing it back.
const whereQuery = "?where"

// callTimeout bounds one call of a throughput workload; every contender
// applies it its own way.
const callTimeout = 5 * time.Second

// peerRefreshTTL is how often the peer's automanaged provider polls the
// other members (its own default is 2 s).
const peerRefreshTTL = time.Second

// node is one contender's node inside a node process. Workloads address
// processes by kind, ID and the ID's index in the run (idx).
type node interface {
	start(a startArgs) (nodeInfo, error)
	// await returns once the node sees the cluster a describes.
	await(ctx context.Context, a awaitArgs) error
	// prepare readies the node for a run over IDs [0, sp.IDs).
	prepare(sp *spec) error
	// activate makes the process exist and calls it once with payload.
	activate(kind, id string, idx int, payload proto.Message) error
	// call calls a process that exists with payload.
	call(kind, id string, idx int, payload proto.Message) error
	// where returns the name of the node that serves the process.
	where(ctx context.Context, kind, id string) (string, error)
	// shards returns the owner of every shard of kind.
	shards(kind string) ([]string, error)
	// activations counts the processes alive on this node.
	activations() int
	close(graceful bool)
}

func newNode(contender string) (node, error) {
	switch contender {
	case meshC, meshTLS, meshSave, meshSavePG:
		return &meshNode{}, nil
	case ceiling:
		return &ceilingNode{fair: true}, nil
	case futures:
		return &ceilingNode{}, nil
	case wireC:
		return &wireNode{}, nil
	case peer:
		return &peerNode{}, nil
	}
	return nil, fmt.Errorf("unknown contender %q", contender)
}

var errNoPlacement = errors.New("no placement to query")

// echoReply is what every contender's echo process answers.
func echoReply(node string, m proto.Message) proto.Message {
	if s, ok := m.(*wrapperspb.StringValue); ok && s.Value == whereQuery {
		return wrapperspb.String(node)
	}
	return m
}

// protoactorLogger keeps protoactor quiet unless MESHBENCH_LOG is set.
func protoactorLogger(*actor.ActorSystem) *slog.Logger {
	if os.Getenv("MESHBENCH_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// remoteOptions are the endpoint queue sizes mesh configures, so that the
// contenders on protoactor's remote pay the same per-peer memory, and a
// receive limit that lets a batch of 64 KiB payloads through.
func remoteOptions(kinds ...*remote.Kind) []remote.ConfigOption {
	return []remote.ConfigOption{
		remote.WithServerOptions(grpc.MaxRecvMsgSize(wireMaxMsg)),
		remote.WithEndpointWriterQueueSize(64 * 1024),
		remote.WithEndpointManagerQueueSize(64 * 1024),
		remote.WithKinds(kinds...),
	}
}

// mesh, through its public API only.

type meshNode struct {
	name  string
	n     *mesh.Node
	st    store.Store // the save contenders' store; nil otherwise
	probe []string    // one ID per shard, for shards
	// handoffs gathers the states the node handed off, where it offers
	// counterKind; nil otherwise.
	handoffs *handoffSink
}

// sent implements frameCounter from the node's transport metrics: the
// frames it sent to other nodes and the messages they carried (on a
// calling node, its remote calls).
func (m *meshNode) sent() (frames, calls int64) {
	families, err := m.n.Metrics().Gather()
	if err != nil {
		return 0, 0
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			switch f.GetName() {
			case "mesh_transport_frames_total":
				frames = int64(mt.GetCounter().GetValue())
			case "mesh_transport_messages_total":
				calls = int64(mt.GetCounter().GetValue())
			}
		}
	}
	return frames, calls
}

func (m *meshNode) start(a startArgs) (nodeInfo, error) {
	m.name = a.Name
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = a.Name
	cfg.Seeds = a.Seeds
	cfg.Shards = shards
	cfg.CallTimeout = callTimeout
	if a.TLSDir != "" {
		dir := a.TLSDir
		t, err := mesh.LoadTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, a.Name+".crt"), filepath.Join(dir, a.Name+".key"))
		if err != nil {
			return nodeInfo{}, err
		}
		cfg.TransportTLS = t
	}
	if os.Getenv("MESHBENCH_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if slices.Contains(a.Kinds, counterKind) {
		m.handoffs = &handoffSink{}
		var next slog.Handler
		if cfg.Logger != nil {
			next = cfg.Logger.Handler()
		}
		cfg.Logger = slog.New(&handoffLog{sink: m.handoffs, next: next})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if a.Store != nil {
		st, err := openStore(ctx, *a.Store)
		if err != nil {
			return nodeInfo{}, fmt.Errorf("open store: %w", err)
		}
		m.st, cfg.Store = st, st
	}
	n, err := mesh.Start(ctx, cfg)
	if err != nil {
		return nodeInfo{}, err
	}
	m.n = n
	name := a.Name
	echo := mesh.ProcessFunc(func(_ mesh.Context, msg proto.Message) (proto.Message, error) {
		return echoReply(name, msg), nil
	})
	var caps []mesh.Capability
	for _, k := range a.Kinds {
		c := mesh.Capability{Name: k, New: func(string) mesh.Process { return echo }}
		if k == counterKind {
			// Never passivated: a counter has no store, so one passivated
			// between its bump and the check would read as a lost state.
			c.New, c.IdleTimeout = func(string) mesh.Process { return &counter{node: name} }, -1
		}
		if m.st != nil {
			c.Save = mesh.SaveOnChange
			c.New = func(string) mesh.Process { return &counter{node: name, saves: true} }
		}
		caps = append(caps, c)
	}
	if err := n.RegisterCapabilities(caps...); err != nil {
		return nodeInfo{}, err
	}
	return nodeInfo{Gossip: n.GossipAddr(), Remote: n.RemoteAddr()}, nil
}

func (m *meshNode) await(ctx context.Context, a awaitArgs) error {
	for {
		if m.converged(a) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mesh: cluster of %d not seen: %w", a.Members, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// converged reports whether the node sees a's members and routes every
// kind over exactly the members offering it.
func (m *meshNode) converged(a awaitArgs) bool {
	members := m.n.Members()
	if len(members) != a.Members {
		return false
	}
	for kind, want := range a.Offering {
		offering := map[string]bool{}
		for _, mb := range members {
			if !mb.Draining && slices.Contains(mb.Capabilities, kind) {
				offering[mb.Name] = true
			}
		}
		if len(offering) != want {
			return false
		}
		owners := map[string]bool{}
		for i := range 256 {
			p, err := m.n.Locate(kind, "probe_"+strconv.Itoa(i))
			if err != nil || !offering[p.Owner] {
				return false
			}
			owners[p.Owner] = true
		}
		if len(owners) != want {
			return false
		}
	}
	return true
}

func (m *meshNode) prepare(*spec) error { return nil }

func (m *meshNode) activate(kind, id string, idx int, payload proto.Message) error {
	return m.call(kind, id, idx, payload)
}

func (m *meshNode) call(kind, id string, _ int, payload proto.Message) error {
	_, err := mesh.Call(context.Background(), mesh.Request{Capability: kind, ID: id, Payload: payload})
	return err
}

// locate returns the node mesh's ring places each ID of kind on.
func (m *meshNode) locate(kind string, ids []string) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		p, err := m.n.Locate(kind, id)
		if err != nil {
			return nil, err
		}
		out[i] = p.Owner
	}
	return out, nil
}

func (m *meshNode) where(ctx context.Context, kind, id string) (string, error) {
	return m.ask(ctx, kind, id, whereQuery)
}

// ask sends query to a process and returns its answer.
func (m *meshNode) ask(ctx context.Context, kind, id, query string) (string, error) {
	r, err := mesh.Call(ctx, mesh.Request{Capability: kind, ID: id, Payload: wrapperspb.String(query)})
	if err != nil {
		return "", err
	}
	return r.(*wrapperspb.StringValue).GetValue(), nil
}

func (m *meshNode) shards(kind string) ([]string, error) {
	if m.probe == nil {
		probe := make([]string, shards)
		left := shards
		for i := 0; left > 0 && i < 100*shards; i++ {
			id := "probe_" + strconv.Itoa(i)
			p, err := m.n.Locate(kind, id)
			if err != nil {
				return nil, err
			}
			if int(p.Shard) < shards && probe[p.Shard] == "" {
				probe[p.Shard] = id
				left--
			}
		}
		if left > 0 {
			return nil, fmt.Errorf("mesh: %d shards not reached by probe IDs", left)
		}
		m.probe = probe
	}
	owners := make([]string, shards)
	for s, id := range m.probe {
		p, err := m.n.Locate(kind, id)
		if err != nil {
			return nil, err
		}
		owners[s] = p.Owner
	}
	return owners, nil
}

func (m *meshNode) activations() int { return len(m.n.Activations()) }

func (m *meshNode) close(graceful bool) {
	if !graceful {
		return // the process exits
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = m.n.Close(ctx)
	if m.st != nil {
		_ = m.st.Close()
	}
}

// The peer: protoactor-go's own cluster, disthash identity lookup; the
// in-memory test provider on one node, automanaged across processes.

type peerNode struct {
	name   string
	system *actor.ActorSystem
	c      *cluster.Cluster
	live   atomic.Int64
}

// autoProvider is automanaged's provider serving its health endpoint on
// loopback only: upstream binds every interface. It answers what upstream's
// own endpoint answers.
type autoProvider struct {
	*automanaged.AutoManagedProvider
	model atomic.Pointer[automanaged.NodeModel]
	port  int
}

func (p *autoProvider) StartMember(c *cluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	p.model.Store(automanaged.NewNode(c.Config.Name, c.ActorSystem.ID, host, port, p.port, c.GetClusterKinds()))
	return p.AutoManagedProvider.StartMember(c)
}

func (p *peerNode) start(a startArgs) (nodeInfo, error) {
	p.name = a.Name
	p.system = actor.NewActorSystem(actor.WithLoggerFactory(protoactorLogger))
	props := actor.PropsFromFunc(echoActor(a.Name, &p.live))
	var kinds []*cluster.Kind
	for _, k := range a.Kinds {
		if k == counterKind {
			name := a.Name
			kinds = append(kinds, cluster.NewKind(k, actor.PropsFromProducer(func() actor.Actor {
				return &peerCounter{counter: counter{node: name}, live: &p.live}
			})))
			continue
		}
		kinds = append(kinds, cluster.NewKind(k, props))
	}
	var provider cluster.ClusterProvider
	if a.AutoPort == 0 {
		provider = test.NewTestProvider(test.NewInMemAgent())
	} else {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.AutoPort)))
		if err != nil {
			return nodeInfo{}, err
		}
		ap := &autoProvider{port: a.AutoPort}
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.Logger.SetOutput(os.Stderr)
		e.Listener = ln
		e.GET("/_health", func(ctx echo.Context) error {
			m := ap.model.Load()
			if m == nil {
				return ctx.NoContent(http.StatusServiceUnavailable)
			}
			return ctx.JSON(http.StatusOK, m)
		})
		ap.AutoManagedProvider = automanaged.NewWithTesting(peerRefreshTTL, a.AutoPort, e, a.AutoHosts...)
		provider = ap
	}
	cfg := cluster.Configure("bench", provider, disthash.New(),
		remote.Configure("127.0.0.1", 0, remoteOptions()...),
		cluster.WithKinds(kinds...), cluster.WithRequestTimeout(callTimeout))
	p.c = cluster.New(p.system, cfg)
	if err := startMember(p.c); err != nil {
		return nodeInfo{}, err
	}
	return nodeInfo{Remote: p.system.Address()}, nil
}

func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("peer: start member: %v", r)
		}
	}()
	c.StartMember()
	return nil
}

func (p *peerNode) await(ctx context.Context, a awaitArgs) error {
	for {
		members := p.c.MemberList.Members().Members()
		ok := len(members) == a.Members
		for kind, want := range a.Offering {
			got := 0
			for _, m := range members {
				if slices.Contains(m.Kinds, kind) {
					got++
				}
			}
			ok = ok && got == want
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("peer: cluster of %d not seen (%d members): %w", a.Members, len(members), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *peerNode) prepare(*spec) error { return nil }

func (p *peerNode) activate(kind, id string, idx int, payload proto.Message) error {
	return p.call(kind, id, idx, payload)
}

func (p *peerNode) call(kind, id string, _ int, payload proto.Message) error {
	r, err := p.c.Request(id, kind, payload)
	if err != nil {
		return err
	}
	if r == nil {
		return errors.New("peer: empty reply")
	}
	return nil
}

func (p *peerNode) where(ctx context.Context, kind, id string) (string, error) {
	return p.ask(ctx, kind, id, whereQuery)
}

// ask sends query to a grain and returns its answer.
func (p *peerNode) ask(ctx context.Context, kind, id, query string) (string, error) {
	timeout := callTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	r, err := p.c.Request(id, kind, wrapperspb.String(query), cluster.WithTimeout(timeout))
	if err != nil {
		return "", err
	}
	s, ok := r.(*wrapperspb.StringValue)
	if !ok {
		return "", fmt.Errorf("peer: reply %T", r)
	}
	return s.GetValue(), nil
}

func (p *peerNode) shards(string) ([]string, error) { return nil, errNoPlacement }

func (p *peerNode) activations() int { return int(p.live.Load()) }

func (p *peerNode) close(graceful bool) { p.c.Shutdown(graceful) }
