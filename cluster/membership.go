package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile selects memberlist timings.
type Profile int

const (
	// Local suits nodes on one host: fast probes, fast failure detection.
	Local Profile = iota
	// LAN suits nodes on one network: memberlist's LAN defaults.
	LAN
)

// Config configures a Membership.
type Config struct {
	// Name is the node's stable, unique name in the cluster.
	Name string
	// BindAddr and BindPort are where gossip listens (UDP and TCP). Port 0
	// picks a free port.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes dial; empty and
	// zero mean the bind address and the bound port.
	AdvertiseAddr string
	AdvertisePort int
	// Seeds are gossip addresses (host:port) of nodes to join. Several
	// are better than one.
	Seeds []string
	// Discovery, if set, finds more seeds: it is asked at Join and at
	// every re-join round, and the addresses it answers that are not
	// members are joined (this node's own excluded). Until an answer lists
	// this node's own address (see Membership.Discovered), rounds come
	// faster: half a second after Join, doubling up to 5 s (or
	// RejoinInterval, if shorter). A
	// failed lookup is logged at most once per RejoinInterval.
	Discovery Discovery
	// Profile selects memberlist's timings.
	Profile Profile
	// RejoinInterval is how often seeds that are not members are joined
	// again, which heals partitions memberlist does not merge by itself.
	// If zero, defaults to 5 s.
	RejoinInterval time.Duration
	// Debounce is how long a burst of membership events is gathered
	// before OnChange runs. If zero, defaults to 50 ms.
	Debounce time.Duration
	// Keys, if any, encrypt and authenticate gossip with AES-GCM: the first
	// is the primary key, which seals everything this node sends; gossip
	// sealed with any of them is accepted, and anything else, plaintext
	// included, is dropped. Each is 16, 24 or 32 bytes (AES-128, -192,
	// -256) and no two are equal. Join copies them; AddKey, UseKey and
	// RemoveKey change them while the node runs. If empty, gossip is
	// plaintext, and gossip that is encrypted is dropped.
	Keys [][]byte
	// Label, if set, is written in clear on every gossip packet and stream,
	// and gossip with another label or none is dropped: nodes of clusters
	// with different labels never see each other. With Keys, the label is
	// also authenticated. At most MaxLabelLen bytes.
	Label string
	// Logger receives memberlist's log lines at their own levels.
	Logger *slog.Logger
	// Cut, if set, is a fault to inject: it reports the gossip addresses
	// this node cannot reach, whose packets it drops and whose dials it
	// refuses. Cutting the same addresses on both sides of a split makes a
	// network partition, and returning false again heals it. It is for
	// tests; nil in production.
	Cut func(addr string) bool
	// OnChange is called with the alive members, sorted by name, after
	// every settled change and once at start. It runs on one goroutine,
	// never concurrently with itself.
	OnChange func([]Member)
}

// Member is a node of the cluster as this node last heard of it.
type Member struct {
	Name       string
	GossipAddr string
	Meta       Meta
	// Updated is when this node last received news of the member.
	Updated time.Time
}

// Membership is this node's view of the cluster, kept by memberlist gossip.
type Membership struct {
	cfg    Config
	ml     *memberlist.Memberlist
	logger *slog.Logger
	log    *logWriter
	// localAddr is this node's gossip address, fixed at Join.
	localAddr string

	metaMu sync.RWMutex // guards meta
	meta   []byte

	// keysMu serialises changes of keyring (see keys.go).
	keysMu sync.Mutex
	// keyring is memberlist's, which it reads for every packet; nil when
	// gossip is plaintext.
	keyring *memberlist.Keyring

	membersMu sync.Mutex // guards members, left, subs; closing stop
	members   map[string]Member
	// subs are the subscriptions to events (events.go).
	subs map[subscriber]struct{}
	// left are the members that went away while draining, by when: they
	// left, rather than failed. A member that comes back, or left more
	// than forgetLeft ago, is forgotten here.
	left map[string]time.Time

	// changeMu serialises OnChange calls.
	changeMu sync.Mutex

	dirty chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup

	probes probes

	discMu sync.Mutex // guards disc, warnedAt
	disc   Discovered
	// warnedAt is when a failed lookup was last logged.
	warnedAt time.Time

	// ctx ends with the membership (or a failed Join) and aborts the
	// gossip dials in progress.
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
}

// Join creates the local member with meta, joins the seeds, and starts the
// goroutines that report changes and re-join seeds. A failure to reach the
// seeds is logged, not returned: the re-join loop keeps trying, so a seed
// with other keys or another label is only logged, as memberlist refuses
// it. ctx bounds the join: if it ends first, Join stops what it started
// and returns ctx's error. It fails with ErrMetaTooLarge, ErrInvalidKey,
// ErrDuplicateKey or ErrInvalidLabel before it binds anything.
func Join(ctx context.Context, cfg Config, meta Meta) (*Membership, error) {
	enc, err := meta.Encode()
	if err != nil {
		return nil, err
	}
	if err := ValidateKeys(cfg.Keys); err != nil {
		return nil, err
	}
	if err := ValidateLabel(cfg.Label); err != nil {
		return nil, err
	}
	keyring, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("cluster: keyring: %w", err)
	}
	if cfg.RejoinInterval == 0 {
		cfg.RejoinInterval = 5 * time.Second
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Membership{
		cfg:     cfg,
		logger:  cfg.Logger,
		meta:    enc,
		members: make(map[string]Member),
		keyring: keyring,
		dirty:   make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	mc := memberlistConfig(cfg)
	// With a keyring, memberlist's defaults (GossipVerifyIncoming and
	// GossipVerifyOutgoing) refuse plaintext and send nothing in clear.
	mc.Keyring = keyring
	mc.Delegate = (*delegate)(m)
	mc.Events = (*events)(m)
	mc.Ping = (*pinger)(m)
	m.probes.interval = mc.ProbeInterval
	m.log = &logWriter{logger: cfg.Logger}
	mc.Logger = log.New(m.log, "", 0)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	tr, err := newTransport(m.ctx, cfg.BindAddr, cfg.BindPort, mc.Logger)
	if tr != nil {
		tr.cut = cfg.Cut
	}
	if err != nil {
		m.cancel()
		return nil, fmt.Errorf("cluster: start gossip: %w", err)
	}
	mc.Transport = tr
	if mc.BindPort == 0 {
		mc.BindPort = tr.GetAutoBindPort()
		if mc.AdvertisePort == 0 {
			mc.AdvertisePort = mc.BindPort
		}
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		m.cancel()
		_ = tr.Shutdown()
		return nil, fmt.Errorf("cluster: start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	m.ml = ml
	// Read once: LocalNode points into state that UpdateNode rewrites.
	self := ml.LocalNode()
	m.localAddr = net.JoinHostPort(self.Addr.String(), strconv.Itoa(int(self.Port)))
	// The first join runs here, so that the node knows the cluster when
	// Join returns; ctx ending cancels its dials.
	stop := context.AfterFunc(ctx, m.cancel)
	m.joinSeeds(slices.Concat(cfg.Seeds, m.discover(ctx)))
	if !stop() || ctx.Err() != nil {
		m.cancel()
		// Seeds that were reached would keep a ghost member until they
		// detect it.
		_ = ml.Leave(10 * time.Millisecond)
		m.log.shutdown.Store(true)
		_ = ml.Shutdown()
		return nil, fmt.Errorf("cluster: join: %w", context.Cause(ctx))
	}
	m.goFunc(m.notifyLoop)
	m.goFunc(m.rejoinLoop)
	return m, nil
}

func memberlistConfig(cfg Config) *memberlist.Config {
	var mc *memberlist.Config
	switch cfg.Profile {
	case LAN:
		mc = memberlist.DefaultLANConfig()
	default:
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 500 * time.Millisecond
		mc.ProbeTimeout = 200 * time.Millisecond
		mc.SuspicionMult = 3
		mc.SuspicionMaxTimeoutMult = 3
		// Each update (a capability change, the draining flag) reaches
		// more peers directly instead of waiting for a push-pull.
		mc.RetransmitMult = 4
		// Full state syncs also readmit a node restarted under its old
		// name whose first alive message came too soon after it was
		// declared dead; keep them frequent on one host.
		mc.PushPullInterval = 2 * time.Second
		// memberlist gossips to a dead node, and counts it, for
		// GossipToTheDeadTime (15 s in its Local config), and each
		// broadcast goes to only RetransmitMult·⌈log10(n+1)⌉ = 4 nodes
		// picked among the live, suspect and recently dead ones. After a
		// few crashes in a row, the suspicion one member raised and its
		// "dead" verdict often missed the other member, whose own
		// suspicion, unconfirmed, then ran SuspicionMaxTimeoutMult times
		// its minimum: detection took 5.2-5.7 s instead of 2.1-3.4 s in
		// 6 rounds of 100 (TestCrashDetectionStaysFast). Stop
		// gossiping to the dead, and reap them, after one push-pull
		// interval, the pairing memberlist's LAN defaults use: a node
		// wrongly declared dead still learns it at its next push-pull,
		// and refutes.
		mc.GossipToTheDeadTime = mc.PushPullInterval
	}
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	mc.Label = cfg.Label
	// A node restarted under the same name on a new address must be let
	// back in quickly rather than refused as a conflict (memberlist's
	// default is never).
	mc.DeadNodeReclaimTime = 500 * time.Millisecond
	return mc
}

func (m *Membership) goFunc(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// LocalAddr returns the gossip address (host:port) other nodes reach this
// node at.
func (m *Membership) LocalAddr() string { return m.localAddr }

// Members returns the alive members, sorted by name. Each is a copy.
func (m *Membership) Members() []Member {
	m.membersMu.Lock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	m.membersMu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetMeta replaces this node's metadata and gossips it, waiting up to
// timeout for the broadcast to go out. It fails, changing nothing, only if
// meta does not fit in MaxMetaSize, or with ErrClosed after Leave.
func (m *Membership) SetMeta(meta Meta, timeout time.Duration) error {
	enc, err := meta.Encode()
	if err != nil {
		return err
	}
	select {
	case <-m.stop:
		return ErrClosed
	default:
	}
	m.metaMu.Lock()
	m.meta = enc
	m.metaMu.Unlock()
	if err := m.ml.UpdateNode(timeout); err != nil {
		// The new metadata is in place and push-pull syncs spread it even
		// if this broadcast was slow: not a failure of the change.
		m.logger.Warn("metadata broadcast not confirmed in time; it spreads with the next sync", "timeout", timeout, "err", err)
	}
	return nil
}

// Leave tells the cluster this node is going, waits up to timeout for the
// news to spread, then stops gossip and every goroutine of m. A broadcast
// that could not go out in time is logged, not returned. It is idempotent.
func (m *Membership) Leave(timeout time.Duration) error {
	return m.shutdown(func() {
		if lerr := m.ml.Leave(timeout); lerr != nil {
			// Only a broadcast not sent in time (every peer leaving at
			// once, say): we leave all the same, and peers that missed it
			// declare us dead by failure detection.
			m.logger.Warn("leave broadcast not confirmed in time", "timeout", timeout, "err", lerr)
		}
	})
}

// Crash stops gossip and every goroutine of m without telling the
// cluster, as a killed process would: the peers find out by failure
// detection. It is for fault tests; a later Leave or Crash is a no-op.
func (m *Membership) Crash() error {
	return m.shutdown(func() {})
}

// shutdown runs leave, then stops gossip and every goroutine of m, once.
func (m *Membership) shutdown(leave func()) error {
	var err error
	m.closeOnce.Do(func() {
		m.membersMu.Lock()
		close(m.stop)
		m.membersMu.Unlock()
		leave()
		// A re-join in progress must not hold up the goroutines' end.
		m.cancel()
		// memberlist's goroutines outlive Shutdown briefly and log the
		// closed sockets as errors: not news to anyone.
		m.log.shutdown.Store(true)
		if serr := m.ml.Shutdown(); serr != nil && err == nil {
			err = fmt.Errorf("cluster: shutdown: %w", serr)
		}
		m.wg.Wait()
	})
	return err
}

// joinSeeds joins the addresses of list, this node's own excluded.
func (m *Membership) joinSeeds(list []string) {
	self := m.LocalAddr()
	var seeds []string
	for _, s := range list {
		if s != self && !slices.Contains(seeds, s) {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return
	}
	// memberlist joins the seeds of one call one after another, each
	// within TCPTimeout: addresses that do not answer (stale records of
	// pods gone) would hold a round for minutes. At most joinParallel at
	// once, each on its own.
	sem := make(chan struct{}, joinParallel)
	var wg sync.WaitGroup
	for _, s := range seeds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := m.ml.Join([]string{s}); err != nil {
				m.logger.Debug("join seed", "seed", s, "err", err)
			}
		})
	}
	wg.Wait()
}

// joinParallel bounds the seeds a node joins at once.
const joinParallel = 8

// notifyLoop turns bursts of events into one OnChange call each.
func (m *Membership) notifyLoop() {
	if m.cfg.OnChange == nil {
		return
	}
	m.Refresh()
	for {
		select {
		case <-m.stop:
			return
		case <-m.dirty:
		}
		t := time.NewTimer(m.cfg.Debounce)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-t.C:
		}
		// Events that arrived during the wait are covered by this call.
		select {
		case <-m.dirty:
		default:
		}
		m.Refresh()
	}
}

// Refresh calls OnChange with the members as they are now, without waiting
// for the debounce. Calls of OnChange are serialised and each reads the
// members once it holds its turn, so a later call never reports an older
// view than an earlier one.
func (m *Membership) Refresh() {
	if m.cfg.OnChange == nil {
		return
	}
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.cfg.OnChange(m.Members())
}

// rejoinLoop joins seeds again whenever one of them is not a member:
// all of Config.Seeds if one of them is not, and the discovered addresses
// that are not.
func (m *Membership) rejoinLoop() {
	wait := m.cfg.RejoinInterval
	if m.cfg.Discovery != nil {
		wait = min(discoveryRetry, wait)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		found := m.discover(m.ctx)
		if m.cfg.Discovery != nil && !m.Discovered().Self {
			wait = min(2*wait, discoveryRetryMax, m.cfg.RejoinInterval)
		} else {
			wait = m.cfg.RejoinInterval
		}
		t.Reset(wait)
		known := make(map[string]bool)
		for _, mem := range m.Members() {
			known[mem.GossipAddr] = true
		}
		var missing []string
		if slices.ContainsFunc(m.cfg.Seeds, func(s string) bool { return !known[s] }) {
			missing = slices.Clone(m.cfg.Seeds)
		}
		for _, s := range found {
			if !known[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			m.joinSeeds(missing)
		}
	}
}

func (m *Membership) markDirty() {
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

// events receives memberlist's callbacks. They run under memberlist's node
// lock, so they only copy what they need and signal the notify loop.
type events Membership

func (e *events) NotifyJoin(n *memberlist.Node)   { (*Membership)(e).upsert(n) }
func (e *events) NotifyUpdate(n *memberlist.Node) { (*Membership)(e).upsert(n) }

func (e *events) NotifyLeave(n *memberlist.Node) {
	m := (*Membership)(e)
	now := time.Now()
	m.membersMu.Lock()
	old, known := m.members[n.Name]
	if known {
		kind := EventFailed
		if old.Meta.Draining {
			kind = EventLeft
		}
		m.publishLocked(Event{Kind: kind, Member: old, At: now})
	}
	if old.Meta.Draining {
		if m.left == nil {
			m.left = map[string]time.Time{}
		}
		for name, at := range m.left {
			if now.Sub(at) > forgetLeft {
				delete(m.left, name)
			}
		}
		m.left[n.Name] = now
	}
	delete(m.members, n.Name)
	m.membersMu.Unlock()
	m.markDirty()
}

// Left reports whether the member name went away while it was draining:
// it left, rather than failed. memberlist tells the two apart only inside
// its own state; a mesh node drains before it leaves, and announces that
// it drains even when its Close has no time for the drain itself.
func (m *Membership) Left(name string) bool {
	m.membersMu.Lock()
	defer m.membersMu.Unlock()
	_, ok := m.left[name]
	return ok
}

// forgetLeft bounds how long Left remembers a member: the node asks at
// the next settled change, well within it.
const forgetLeft = time.Hour

func (m *Membership) upsert(n *memberlist.Node) {
	meta, err := DecodeMeta(n.Meta)
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	now := time.Now()
	m.membersMu.Lock()
	delete(m.left, n.Name)
	old, known := m.members[n.Name]
	if err != nil {
		// A member we cannot understand cannot be routed to: keep it out.
		delete(m.members, n.Name)
		if known {
			m.publishLocked(Event{Kind: EventFailed, Member: old, At: now})
		}
	} else {
		mem := Member{Name: n.Name, GossipAddr: addr, Meta: meta, Updated: now}
		m.members[n.Name] = mem
		if !known {
			m.publishLocked(Event{Kind: EventJoined, Member: mem, At: now})
		} else {
			for _, e := range changes(old, mem, now) {
				m.publishLocked(e)
			}
		}
	}
	m.membersMu.Unlock()
	if err != nil {
		m.logger.Warn("ignoring member with bad metadata", "member", n.Name, "addr", addr, "err", err)
	}
	m.markDirty()
}

// delegate gives memberlist this node's metadata; mesh sends no user
// messages through gossip.
type delegate Membership

func (d *delegate) NodeMeta(limit int) []byte {
	m := (*Membership)(d)
	m.metaMu.RLock()
	defer m.metaMu.RUnlock()
	if len(m.meta) > limit {
		// Unreachable: SetMeta and Join check the size first.
		return nil
	}
	return bytes.Clone(m.meta)
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// logWriter turns memberlist's "[LEVEL] memberlist: ..." lines into slog
// records at the matching level.
// After shutdown every line goes to Debug.
type logWriter struct {
	logger   *slog.Logger
	shutdown atomic.Bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[DEBUG] ": slog.LevelDebug, "[INFO] ": slog.LevelDebug, // memberlist is chatty at INFO
		"[WARN] ": slog.LevelWarn, "[ERR] ": slog.LevelError, "[ERROR] ": slog.LevelError,
	} {
		if len(line) >= len(prefix) && line[:len(prefix)] == prefix {
			level, line = l, line[len(prefix):]
			break
		}
	}
	if w.shutdown.Load() {
		level = slog.LevelDebug
	}
	w.logger.Log(context.Background(), level, line)
	return len(p), nil
}

var _ io.Writer = (*logWriter)(nil)
