package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/asynkron/protoactor-go/actor"
	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/cluster"
	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/obs"
	"github.com/meshrun/mesh/internal/transport"
	"github.com/meshrun/mesh/shard"
)

// routerName is the protoactor ID of every node's router.
const routerName = "mesh-router"

// Node is one member of a mesh cluster: it hosts the processes of the
// capabilities it registers and routes calls to any process in the cluster.
type Node struct {
	cfg    Config
	name   string
	logger *slog.Logger
	// incarnation tells this run of the node from earlier ones under the
	// same name (see DESIGN.md, Identity): drawn at Start, gossiped, and
	// carried by every envelope and cached PID.
	incarnation uint64

	system     *pa.ActorSystem
	transport  *transport.Transport
	remoteAddr string
	members    *cluster.Membership
	table      *activation.Table
	cache      *activation.Cache
	replies    *replies

	factories capability.Registry[Capability]

	metrics *obs.Metrics
	tracing obs.Tracing
	health  healthLog
	// admin is set once the endpoint serves; the router reads it for
	// pongs. nil without Config.AdminAddr.
	admin atomic.Pointer[admin.Server]

	// capMu serialises changes to the capabilities this node offers and
	// to its gossiped metadata.
	capMu    sync.Mutex
	draining bool

	stopsMu sync.Mutex // guards stops
	// stops are the activations placement changes told to stop, until
	// someone waits for them (UnregisterCapabilities, Close).
	stops []*activation.Stopping
	// handoffs are closed as the handoffs of placement changes end.
	handoffs []chan struct{}
	// handoffCtx bounds every handoff; Close ends it.
	handoffCtx   context.Context
	stopHandoffs context.CancelFunc

	routes atomic.Pointer[routes]
	// routesMu serialises snapshot builders (membership changes).
	routesMu sync.Mutex

	closing atomic.Bool
	// drained is set once Drain or Close began to drain the node.
	drained atomic.Bool
	// ready is what Ready knows of the node's convergence.
	ready readiness
	// quorum is what the node knows for its partition policy; noQuorum
	// is set while it does not see a majority.
	quorum   quorum
	noQuorum atomic.Bool
	// strayAt is when, during Close, a peer last routed a message here,
	// to the router or to a stopped activation. Unix nanoseconds.
	strayAt   atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

// routes is an immutable routing snapshot: the placement of every
// capability and how to reach every member.
type routes struct {
	table  *shard.Table
	list   []cluster.Member // sorted by name
	placed []shard.Member   // list as placement sees it
	// unplaced are the errors of the capabilities members offer that
	// have no ring (see unplaced).
	unplaced map[string]error
	// scopes are the scopes with a ring of each split capability.
	scopes  map[string][]string
	members map[string]cluster.Member
	routers map[string]*pa.PID
	// since is when the placement (table) became what it is.
	since time.Time
}

// Start starts a node, joins the cluster through cfg.Seeds and returns
// once the node is serving. The first node started in a process becomes the
// default node of the package-level functions. It fails with
// ErrInvalidConfig for a Config it refuses, and with ErrStart when the node
// cannot listen on its addresses or ctx ends before the node serves (the
// error then wraps ctx's error too); it then stops what it had started.
// Seeds that cannot be reached are not a failure: the node keeps trying
// them in the background.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	n := &Node{cfg: cfg, name: cfg.NodeName, logger: cfg.Logger.With("node", cfg.NodeName), incarnation: newIncarnation()}
	n.system = pa.NewActorSystem(pa.WithLoggerFactory(func(*pa.ActorSystem) *slog.Logger {
		return slog.New(debugOnly{n.logger.Handler()}).With("component", "protoactor")
	}))
	if err := n.listen(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	// Nothing of the node is shared yet: stop it hard on failure.
	stopped, stop := context.WithCancel(context.Background())
	stop()
	n.cache = activation.NewCache(0)
	n.handoffCtx, n.stopHandoffs = context.WithCancel(context.Background())
	n.metrics, n.tracing = newMetrics(n), obs.NewTracing(cfg.TracerProvider, cfg.Propagator)
	n.table = activation.NewTable(n.system, activation.TableConfig{
		Self:           n.name,
		Incarnation:    n.incarnation,
		MaxPayload:     cfg.MaxPayload,
		HandoffTimeout: cfg.HandoffTimeout,
		Store:          cfg.Store,
		Factory:        n.factory,
		Passivation:    n.passivation,
		SaveOnChange:   n.savesOnChange,
		Owner:          n.owner,
		Recast:         n.recast,
		Stray:          n.stray,
		Logger:         n.logger,
		Hooks:          n.hooks(),
	})
	n.system.EventStream.Subscribe(n.deadLetter)
	n.replies = newReplies(n.remoteAddr, n.incarnation)
	// A fresh actor system has neither name yet.
	router := &router{n: n}
	n.system.ProcessRegistry.Add(n.replies, repliesName)
	n.system.ProcessRegistry.Add(router, routerName)
	n.transport.Start(n.system, n.remoteAddr, map[string]pa.Process{repliesName: n.replies, routerName: router})
	n.routes.Store(&routes{table: shard.Build(cfg.Shards, nil, nil), since: time.Now()})

	gossipHost, gossipPort, _ := splitHostPort(cfg.GossipAddr)
	mcfg := cluster.Config{
		Name:           n.name,
		BindAddr:       gossipHost,
		BindPort:       gossipPort,
		Seeds:          cfg.Seeds,
		Profile:        cluster.Local,
		RejoinInterval: cfg.RejoinInterval,
		Keys:           cfg.GossipKeys,
		Label:          cfg.ClusterLabel,
		Logger:         n.logger.With("component", "memberlist"),
		OnChange:       n.onMembers,
		Cut:            cfg.cut,
	}
	if cfg.lan {
		mcfg.Profile = cluster.LAN
	}
	if cfg.SeedsDNS != "" {
		mcfg.Discovery = &cluster.DNS{Name: cfg.SeedsDNS, Resolver: cfg.Resolver}
	}
	if cfg.GossipAdvertiseAddr != "" {
		mcfg.AdvertiseAddr, mcfg.AdvertisePort, _ = splitHostPort(cfg.GossipAdvertiseAddr)
	}
	members, err := cluster.Join(ctx, mcfg, n.meta())
	if err != nil {
		n.stopTransport(stopped)
		return nil, fmt.Errorf("%w: %s: %w", ErrStart, n.name, err)
	}
	n.members = members
	if err = n.startAdmin(); err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = members.Leave(10 * time.Millisecond)
		n.stopAdmin(stopped)
		n.stopTransport(stopped)
		return nil, fmt.Errorf("%w: %s: %w", ErrStart, n.name, err)
	}
	defaultNode.CompareAndSwap(nil, n)
	n.logger.Info("node started", "gossip", members.LocalAddr(), "remote", n.remoteAddr)
	return n, nil
}

// listen binds the node's transport and works out the address other
// nodes must dial.
func (n *Node) listen() error {
	t, err := transport.Listen(n.cfg.RemoteAddr, transport.Options{
		MaxPayload: n.cfg.MaxPayload,
		MaxQueue:   max(transport.DefaultMaxQueue, 4*n.cfg.MaxPayload),
		TLS:        n.cfg.TransportTLS,
		Name:       n.name,
		Logger:     n.logger.With("component", "transport"),
		Cut:        n.cfg.transportCut,
	})
	if err != nil {
		return err
	}
	bound := t.BoundAddr()
	_, boundPort, _ := net.SplitHostPort(bound)
	addr := bound
	if adv := n.cfg.RemoteAdvertiseAddr; adv != "" {
		addr = adv
		if _, _, err := net.SplitHostPort(adv); err != nil {
			addr = net.JoinHostPort(adv, boundPort)
		}
	}
	// PIDs of this node carry the address others dial.
	n.system.ProcessRegistry.Address = addr
	n.transport, n.remoteAddr = t, addr
	return nil
}

// boundedBy returns d, or less when ctx's deadline comes sooner; 10 ms
// when ctx has ended, for a last message that is worth a try.
func boundedBy(ctx context.Context, d time.Duration) time.Duration {
	const least = 10 * time.Millisecond
	if ctx.Err() != nil {
		return least
	}
	if dl, ok := ctx.Deadline(); ok {
		return max(least, min(d, time.Until(dl)))
	}
	return d
}

// stopTransport stops the transport, gracefully unless ctx ends first,
// and then the actor system.
func (n *Node) stopTransport(ctx context.Context) {
	n.stopHandoffs() // none is under way unless the node served
	if err := n.transport.Close(ctx); err != nil {
		n.logger.Debug("transport stopped hard", "err", err)
	}
	n.system.Shutdown()
	n.table.Close()
}

// meta is what this node gossips about itself. capMu must be held, or the
// node not yet shared.
func (n *Node) meta() cluster.Meta {
	return cluster.Meta{
		RemoteAddr:   n.remoteAddr,
		Capabilities: n.factories.Names(),
		Requires:     n.requirements(),
		Labels:       n.cfg.Labels,
		Draining:     n.draining,
		Incarnation:  n.incarnation,
	}
}

// newIncarnation draws a node incarnation: random, never zero.
func newIncarnation() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Incarnation returns the random number that tells this run of the node
// from earlier runs under the same name; it is drawn at every Start.
func (n *Node) Incarnation() uint64 { return n.incarnation }

// RemoteAddr returns the address other nodes send actor messages to.
func (n *Node) RemoteAddr() string { return n.remoteAddr }

// GossipAddr returns the address other nodes gossip with, for their Seeds.
func (n *Node) GossipAddr() string { return n.members.LocalAddr() }

// RegisterCapabilities makes the node offer caps, in addition to what it
// offers already. It is all or nothing: an invalid or duplicate capability,
// one whose requirement conflicts with another member's
// (ErrConflictingRequirement), or metadata past 512 bytes, adds none of
// them. A capability split by a label is registered under its scoped name
// (see Scope), which Capabilities lists. A node whose labels lack what a
// capability requires offers it but owns none of its shards (Locate says
// so). The node routes by the change when RegisterCapabilities returns;
// other nodes learn of it by gossip, typically within a few hundred
// milliseconds.
func (n *Node) RegisterCapabilities(caps ...Capability) error {
	if n.closing.Load() {
		return ErrClosed
	}
	add := make(map[string]Capability, len(caps))
	for _, c := range caps {
		name, requires, err := prepare(c, n.cfg.Labels)
		if err != nil {
			return err
		}
		if _, dup := add[name]; dup {
			return fmt.Errorf("%w: %q given twice", ErrDuplicateCapability, name)
		}
		switch {
		case c.Save != SaveOnStop && c.Save != SaveOnChange:
			return fmt.Errorf("%w: %q has an unknown save mode %d", ErrInvalidCapability, c.Name, int(c.Save))
		case c.Save == SaveOnChange && n.cfg.Store == nil:
			return fmt.Errorf("%w: %q saves on change, but Config.Store is not set", ErrInvalidCapability, c.Name)
		}
		c.Name, c.Requires = name, requires
		add[name] = c
	}
	n.capMu.Lock()
	defer n.capMu.Unlock()
	r := n.routes.Load()
	for _, name := range slices.Sorted(maps.Keys(add)) {
		if err := r.conflict(n.name, name, add[name].Requires); err != nil {
			return err
		}
	}
	if err := n.factories.Add(add); err != nil {
		return err
	}
	if err := n.announce(); err != nil {
		n.factories.Remove(slices.Collect(maps.Keys(add))...)
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(add)) {
		if unmet := capability.Unmet(n.cfg.Labels, add[name].Requires); len(unmet) > 0 {
			n.logger.Warn("this node lacks labels the capability requires: it will own none of its shards",
				"capability", name, "lacks", strings.Join(unmet, ","))
		}
	}
	return nil
}

// UnregisterCapabilities withdraws capabilities the node offers and stops
// their activations on this node; names it does not offer are ignored. A
// capability split by a label is withdrawn by its name or its scoped name
// ("game" or "game@eu"). It returns once their processes' Stop has run, or
// after 5 s.
func (n *Node) UnregisterCapabilities(names ...string) error {
	if n.closing.Load() {
		return ErrClosed
	}
	n.capMu.Lock()
	if len(n.factories.Remove(n.withScoped(names)...)) == 0 {
		n.capMu.Unlock()
		return nil
	}
	err := n.announce()
	n.capMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	if werr := n.waitStops(ctx); werr != nil {
		n.logger.Warn("activations did not stop in time", "waited", stopWait)
	}
	return err
}

// announce gossips this node's metadata and routes by it at once: a call
// made on this node right after RegisterCapabilities returns finds the
// capability. capMu must be held.
func (n *Node) announce() error {
	return n.announceWithin(time.Second)
}

// announceWithin is announce waiting at most timeout for the broadcast.
func (n *Node) announceWithin(timeout time.Duration) error {
	if err := n.members.SetMeta(n.meta(), timeout); err != nil {
		if errors.Is(err, cluster.ErrClosed) {
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return err
	}
	// memberlist notified the change of our own metadata synchronously.
	n.members.Refresh()
	return nil
}

// Capabilities returns the capabilities this node offers, sorted; a
// capability split by a label under its scoped name.
func (n *Node) Capabilities() []string { return n.factories.Names() }

// requirements returns the requirement of every capability this node
// offers that has one.
func (n *Node) requirements() map[string]map[string]string {
	var out map[string]map[string]string
	for _, name := range n.factories.Names() {
		c, _ := n.factories.Get(name)
		if len(c.Requires) == 0 {
			continue
		}
		if out == nil {
			out = make(map[string]map[string]string)
		}
		out[name] = c.Requires
	}
	return out
}

// onMembers publishes the routing snapshot for members and stops the
// activations whose shards this node no longer owns.
func (n *Node) onMembers(members []cluster.Member) {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	prev := n.routes.Load()
	next := &routes{
		list:    members,
		placed:  placed(members),
		members: make(map[string]cluster.Member, len(members)),
		routers: make(map[string]*pa.PID, len(members)),
	}
	peers := make([]transport.Member, 0, len(members))
	for _, m := range members {
		next.members[m.Name] = m
		next.routers[m.Name] = pa.NewPID(m.Meta.RemoteAddr, routerName)
		if m.Name != n.name {
			peers = append(peers, transport.Member{Name: m.Name, Addr: m.Meta.RemoteAddr})
		}
	}
	next.table = shard.Build(n.cfg.Shards, next.placed, prev.table)
	next.unplaced, next.scopes = unplaced(next.placed, next.table), scopes(next.table)
	changed := next.table.Version() != prev.table.Version()
	next.since = prev.since
	if changed {
		next.since = time.Now()
		// Before the snapshot makes this node route the shards it takes
		// over to itself: a process made for one of them must wait for
		// the state its previous owner hands off, not start empty.
		n.expect(n.takenOver(prev, next, next.placed, members))
	}
	// The transport may dial members only, and with TLS takes messages
	// from members only; before the snapshot names them, so that a call
	// routed by it can be sent.
	n.transport.SetMembers(peers)
	n.routes.Store(next)
	n.setQuorum(n.assessQuorum(prev.members, members, time.Now()))
	n.observeRoutes(prev, next)
	for name, old := range prev.members {
		// PIDs of a member that left, or restarted since, name nothing or
		// another activation.
		if m, ok := next.members[name]; !ok || m.Meta.Incarnation != old.Meta.Incarnation {
			n.cache.DropNode(name)
		}
	}
	if !changed {
		return
	}
	n.rebalance(prev.table, next.table)
	n.logger.Info("placement changed", "members", len(members), "version", next.table.Version())
}

// takenOver returns the shards this node owns in next that a member of
// next owned before: in the previous placement, or, in this node's first
// view of the others, the placement they had without it.
func (n *Node) takenOver(prev, next *routes, placed []shard.Member, members []cluster.Member) []shard.Move {
	from := prev.table
	if len(prev.members) <= 1 {
		var others []shard.Member
		for _, m := range placed {
			if m.Name != n.name {
				others = append(others, m)
			}
		}
		from = shard.Build(n.cfg.Shards, others, nil)
	}
	_, in := shard.Moves(n.name, from, next.table, nil)
	alive := make(map[string]bool, len(members))
	for _, m := range members {
		alive[m.Name] = true
	}
	return slices.DeleteFunc(in, func(m shard.Move) bool { return !alive[m.From] })
}

// stopWait bounds how long UnregisterCapabilities waits for the
// activations it stops to run their processes' Stop.
const stopWait = 5 * time.Second

// rebalance stops the activations of the shards this node gives up going
// from placement prev to next and hands their states off to the new
// owners; waitStops waits for their processes' Stop, waitHandoffs for the
// handoffs.
// An activation made after the shards held were read, by a call that
// routed by prev, is not stopped here; it serves nothing, since an
// activation re-checks ownership on every message, and stops at the next
// change.
func (n *Node) rebalance(prev, next *shard.Table) {
	out, _ := shard.Moves(n.name, prev, next, n.table.Held())
	given := shard.Given(n.name, prev, next)
	if len(out) == 0 && len(given) == 0 {
		return
	}
	type key struct {
		capability string
		shard      uint32
	}
	to := make(map[key]string, len(out))
	for _, m := range out {
		to[key{m.Capability, m.Shard}] = m.To
	}
	moved := actor.StopMoved
	if n.closing.Load() {
		moved = actor.StopClosing
	}
	stopping := n.table.StopWhere(func(c string, s uint32) (actor.StopReason, string) {
		owner, ok := to[key{c, s}]
		switch {
		case !ok:
			return 0, ""
		case !n.hosts(c):
			return actor.StopUnregistered, owner
		}
		return moved, owner
	})
	n.stopsMu.Lock()
	// Those already finished need no waiting: keep the list short.
	n.stops = append(slices.DeleteFunc(n.stops, (*activation.Stopping).Finished), stopping)
	n.stopsMu.Unlock()
	n.startHandoff(given, stopping)
	n.logger.Debug("stopping activations of moved shards", "stopping", stopping.Len(), "shards", len(out))
}

// waitStops waits, until ctx ends, for the activations that placement
// changes have told to stop to run their processes' Stop. Placement
// changes do not wait themselves: gossip must go on meanwhile.
func (n *Node) waitStops(ctx context.Context) error {
	n.stopsMu.Lock()
	stops := slices.Clone(n.stops)
	n.stopsMu.Unlock()
	var err error
	for _, s := range stops {
		if err = s.Wait(ctx); err != nil {
			break
		}
	}
	// Only the finished are forgotten: another caller may wait for the
	// others, and Close waits for all.
	n.stopsMu.Lock()
	n.stops = slices.DeleteFunc(n.stops, (*activation.Stopping).Finished)
	n.stopsMu.Unlock()
	return err
}

// hosts reports whether this node offers capability.
func (n *Node) hosts(capability string) bool {
	_, ok := n.factories.Get(capability)
	return ok
}

// owner returns the owner of a shard and its ring's version, as this node
// sees them now.
func (n *Node) owner(capability string, s uint32) (string, uint64) {
	return n.routes.Load().owner(capability, s)
}

// owner returns the owner of a shard and its ring's version in r; "" when
// no node offers the capability.
func (r *routes) owner(capability string, s uint32) (string, uint64) {
	ring := r.table.Ring(capability)
	if ring == nil || int(s) >= ring.Shards() {
		return "", 0
	}
	return ring.Owner(s), ring.Version()
}

// Close leaves the cluster gracefully: it drains the node (see Drain),
// stops its activations, leaves the gossip and stops every goroutine it
// started. ctx bounds all
// of it: once ctx ends, Close stops the node hard (what is left of the
// drain is skipped, connections are cut) and returns an error wrapping
// ErrDrainIncomplete and ctx's error (it still takes up to 300 ms to tell
// the others it leaves, so that they do not count it as failed for their
// majority). Calls made on the node after Close
// began fail with ErrClosed. Close is idempotent; later calls return the
// first one's result.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

// Drain hands every shard of this node to the other nodes, with the
// state of its processes (actor.Snapshotter), and takes no new placements,
// while the node stays a member and its own calls to other nodes go on:
// it tells the cluster it is draining, waits DrainTimeout for the others
// to route its shards elsewhere (redirecting what still arrives), then
// until no peer has routed a call to it for 100 ms (up to ten
// DrainTimeouts), and for its handoffs to be acknowledged (each bounded by
// HandoffTimeout). ctx bounds all of it: once ctx ends, Drain returns an
// error wrapping ErrDrainIncomplete and ctx's error. A drained node
// serves again only after a restart; Close drains first, so calling Drain
// before Close is only needed to leave the node running, drained.
func (n *Node) Drain(ctx context.Context) error {
	if n.closing.Load() {
		return ErrClosed
	}
	err := n.drainOut(ctx)
	if cerr := ctx.Err(); cerr != nil {
		err = errors.Join(cerr, err)
	}
	if err != nil {
		return fmt.Errorf("mesh: drain %s: %w: %w", n.name, ErrDrainIncomplete, err)
	}
	return nil
}

// drainOut is Drain, less what ctx's end says.
func (n *Node) drainOut(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	n.capMu.Lock()
	n.draining = true
	n.drained.Store(true)
	err := n.announceWithin(boundedBy(ctx, time.Second))
	n.capMu.Unlock()
	if err != nil {
		n.logger.Warn("could not announce draining", "err", err)
	}
	n.drain(ctx)
	if herr := n.waitHandoffs(ctx); herr != nil {
		err = errors.Join(err, herr)
	}
	return err
}

func (n *Node) close(ctx context.Context) error {
	n.closing.Store(true)
	var err error
	if ctx.Err() == nil {
		err = n.drainOut(ctx)
	} else {
		// No time to drain, but a moment to say the node leaves rather
		// than fails, so that it does not count against the others'
		// majority.
		n.capMu.Lock()
		n.draining = true
		if aerr := n.announceWithin(300 * time.Millisecond); aerr != nil {
			n.logger.Debug("could not announce draining", "err", aerr)
		}
		n.capMu.Unlock()
	}
	// Leave even when ctx has ended: a short broadcast spares the peers
	// the seconds of failure detection.
	leaveTimeout := boundedBy(ctx, time.Second)
	if lerr := n.members.Leave(leaveTimeout); lerr != nil {
		err = errors.Join(err, lerr)
	}
	n.stopQuorumGrace()
	n.endHandoffs()
	last := n.table.StopAll(actor.StopClosing)
	if serr := errors.Join(last.Wait(ctx), n.waitStops(ctx)); serr != nil {
		n.logger.Warn("activations did not all stop before ctx ended", "err", serr)
	}
	n.stopAdmin(ctx)
	n.stopTransport(ctx)
	defaultNode.CompareAndSwap(n, nil)
	if cerr := ctx.Err(); cerr != nil {
		err = errors.Join(cerr, err)
	}
	if err != nil {
		n.logger.Warn("node stopped hard", "err", err)
		return fmt.Errorf("mesh: close %s: %w: %w", n.name, ErrDrainIncomplete, err)
	}
	n.logger.Info("node closed")
	return nil
}

// stray notes, while the node drains, that a peer still routed a message
// here.
func (n *Node) stray() {
	if n.drained.Load() {
		n.strayAt.Store(time.Now().UnixNano())
	}
}

// drainQuiet is how long no peer may have routed to a draining node before
// it stops serving.
const drainQuiet = 100 * time.Millisecond

// drain waits, after the node announced it is draining, for DrainTimeout
// and then until no peer has routed a message here for drainQuiet: peers
// whose view still names this node keep getting redirects until their view
// catches up. It gives up after ten DrainTimeouts or when ctx ends.
func (n *Node) drain(ctx context.Context) {
	start := time.Now()
	giveUp := start.Add(10 * n.cfg.DrainTimeout)
	wait := n.cfg.DrainTimeout
	for {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		quiet := time.Since(time.Unix(0, n.strayAt.Load()))
		if quiet >= drainQuiet || time.Now().After(giveUp) {
			n.logger.Debug("drained", "took", time.Since(start))
			return
		}
		wait = drainQuiet - quiet
	}
}

// Member is a node of the cluster as this node sees it.
type Member struct {
	Name         string
	GossipAddr   string
	RemoteAddr   string
	Capabilities []string
	// Requires maps a capability of Capabilities to the labels the member
	// declares its ring requires (Capability.Requires); none for none.
	Requires map[string]map[string]string
	Labels   map[string]string
	// Weight is the member's weight on every ring it is on, from its
	// label CapacityLabel: 1 unless the label says more.
	Weight int
	// Draining is set while the member is leaving: it owns no shards.
	Draining bool
	// Self marks the node that answered.
	Self bool
	// Incarnation is drawn at random at every start of the member; a
	// change under the same name means it restarted.
	Incarnation uint64
	// Updated is when this node last heard news of the member.
	Updated time.Time
	// State is the member's health as this node sees it. memberlist does
	// not report suspicion, so a member is MemberSuspect when this node
	// has heard nothing of it (no acknowledged probe, no news) for 2 ×
	// (members − 1) + 2 probe intervals, about 3 s for three members with
	// DefaultLocalConfig: a member is probed once per round of the others
	// in a shuffled order, so a healthy one answers at least every two
	// rounds. Members whose direct probes fail but indirect ones succeed
	// look suspect here while memberlist keeps them alive.
	State MemberState
	// LastSeen is when this node last heard from the member: an
	// acknowledged probe or news through gossip; now for Self.
	LastSeen time.Time
	// ProbeRTT is the round trip of the last acknowledged probe of the
	// member; zero if none.
	ProbeRTT time.Duration
}

// Members returns the alive members of the cluster, sorted by name, with
// what each offers, as of the placement this node routes by: a capability
// listed here can be located and called.
func (n *Node) Members() []Member {
	var out []Member
	for _, m := range n.routes.Load().list {
		out = append(out, n.memberOf(m))
	}
	n.assess(out)
	return out
}

// Placement says where a process lives, as one node sees it.
type Placement struct {
	Capability string
	ID         string
	Shard      uint32
	// Owner is the node that owns the shard.
	Owner string
	// RingVersion identifies the capability's ring; nodes that agree on it
	// agree on every owner.
	RingVersion uint64
	// RoutingVersion identifies this node's whole placement.
	RoutingVersion uint64
	// Requires are the labels every node on the ring carries; nil for
	// none.
	Requires map[string]string
	// Members are the members this node considered for the ring, sorted
	// by name: those on it and why the others are not.
	Members []RingMember
}

// Locate returns where (capability, id) lives as this node sees it now,
// and how the capability's ring was formed. It fails with ErrNoNode when
// no member offers the capability and with ErrNoOwner when none of those
// that do may own it; the Placement then still says why.
func (n *Node) Locate(capability, id string) (Placement, error) {
	req := Request{Capability: capability, ID: id}
	if err := req.validateTarget(); err != nil {
		return Placement{}, err
	}
	r := n.routes.Load()
	t := r.table
	p := Placement{Capability: capability, ID: id, Shard: shard.Of(id, n.cfg.Shards), RoutingVersion: t.Version()}
	p.Requires, p.Members = r.explain(capability)
	ring := t.Ring(capability)
	if ring == nil {
		return p, r.noRing(capability)
	}
	p.Owner, p.RingVersion = ring.Owner(p.Shard), ring.Version()
	return p, nil
}

// RoutingVersion identifies the placement this node routes by; nodes that
// have converged report the same value.
func (n *Node) RoutingVersion() uint64 { return n.routes.Load().table.Version() }

// Activations returns the processes active on this node.
func (n *Node) Activations() []Activation {
	list := n.table.List()
	out := make([]Activation, len(list))
	for i, a := range list {
		out[i] = Activation{Capability: a.Capability, ID: a.ID, Shard: a.Shard, PID: a.PID,
			Since: a.Since, LastUsed: a.LastUsed, Origin: a.Origin.String()}
	}
	return out
}

// debugOnly logs every record at Debug, keeping its original level as an
// attribute. protoactor logs routine events (a peer closing its connection)
// as errors; the node itself logs, at the right level, what matters to an
// operator: unreachable owners, undecodable messages, panics.
type debugOnly struct{ slog.Handler }

func (h debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugOnly) Handle(ctx context.Context, r slog.Record) error {
	d := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	d.AddAttrs(slog.String("level_was", r.Level.String()))
	r.Attrs(func(a slog.Attr) bool { d.AddAttrs(a); return true })
	return h.Handler.Handle(ctx, d)
}

func (h debugOnly) WithAttrs(as []slog.Attr) slog.Handler { return debugOnly{h.Handler.WithAttrs(as)} }

func (h debugOnly) WithGroup(g string) slog.Handler { return debugOnly{h.Handler.WithGroup(g)} }

// factory returns the factory of a capability this node hosts.
func (n *Node) factory(capability string) (actor.Factory, bool) {
	c, ok := n.factories.Get(capability)
	return c.New, ok
}

// savesOnChange reports whether capability's processes save after every
// message that changed their state.
func (n *Node) savesOnChange(capability string) bool {
	c, _ := n.factories.Get(capability)
	return c.Save == SaveOnChange
}

// passivation returns how the processes of capability are let go.
func (n *Node) passivation(capability string) activation.Passivation {
	c, _ := n.factories.Get(capability)
	idle := c.IdleTimeout
	switch {
	case idle == 0:
		idle = DefaultIdleTimeout
	case idle < 0:
		idle = 0
	}
	return activation.Passivation{Idle: idle, Max: c.MaxActivations}
}
