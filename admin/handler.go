package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits and defaults of the routes.
const (
	// membersPingTimeout bounds the pings of GET /v1/members.
	membersPingTimeout = 500 * time.Millisecond
	// defaultPingTimeout bounds the pings of GET /v1/ping unless asked
	// for another timeout.
	defaultPingTimeout = 2 * time.Second
	// defaultActivationsLimit is how many activations GET /v1/activations
	// lists unless asked for another limit.
	defaultActivationsLimit = 1000
	// defaultMaxCallTimeout is Options.MaxCallTimeout when it is zero,
	// mesh's default CallTimeout.
	defaultMaxCallTimeout = 5 * time.Second
	// maxInFlight bounds the requests in progress on the routes that need
	// credentials (all but the probes); one more answers 503. A CLI
	// command sends at most one request to a node at a time, a scraper
	// one per scrape: 32 leaves room for many operators and scrapers
	// while bounding the pings and calls a flood of requests can start.
	maxInFlight = 32
)

// MaxPingTimeout is the longest ?timeout= GET /v1/ping accepts.
const MaxPingTimeout = 30 * time.Second

// Options configure the endpoint.
type Options struct {
	// Calls lets POST /v1/call call any process of the cluster; without
	// it the route answers 403. Off by default.
	Calls bool
	// Tokens, if set, are the bearer tokens the endpoint accepts: every
	// route but /healthz and /readyz then answers 401 to a request
	// without "Authorization: Bearer SECRET" of one of them, and POST
	// /v1/call 403 to a token of RoleRead. Several tokens of a role let
	// clients move to a new one before the old one is removed. See
	// Token.Secret for what a secret must be. If empty (the default),
	// the endpoint has no authentication.
	Tokens []Token
	// MaxCallTimeout is the longest timeout a POST /v1/call may ask for;
	// a longer one answers 400. Set it to the node's own bound on a call
	// without a deadline (mesh sets its Config.CallTimeout). If zero,
	// 5 s.
	MaxCallTimeout time.Duration
	// TLS, if set, makes Listen serve HTTPS with it; it needs a
	// certificate. With ClientAuth tls.VerifyClientCertIfGiven or
	// tls.RequireAndVerifyClientCert (and ClientCAs, which must be set),
	// a client certificate that verifies against ClientCAs grants
	// RoleOperator, and a request with neither such a certificate nor a
	// token answers 401 (the probes excepted). Under
	// RequireAndVerifyClientCert the handshake refuses a client without
	// a certificate before any route, the probes included: use
	// VerifyClientCertIfGiven to keep them open. Other ClientAuth values
	// grant nothing: requests then need a token if Tokens is set, none
	// otherwise. Only the ClientAuth of TLS itself is read, not that of
	// a configuration GetConfigForClient returns. If nil (the default),
	// the endpoint serves plain HTTP.
	TLS *tls.Config
	// Logger receives, from Listen's server, a line when it stops on an
	// error and, at Debug, the HTTP server's own errors (a client that
	// sends garbage). nil discards them.
	Logger *slog.Logger
}

// endpoints lists the routes, for GET /.
var endpoints = []string{
	"GET /v1/members", "GET /v1/activations?capability=C&limit=N", "GET /v1/owner?capability=C&id=ID",
	"GET /v1/status", "GET /v1/ping?node=NAME&timeout=D", "GET /v1/events", "POST /v1/call", "GET /metrics", "GET /healthz", "GET /readyz",
	"GET /dashboard",
}

// handler serves the routes over a Node.
type handler struct {
	node  Node
	calls bool
	auth  *authenticator
	// maxCallTimeout is Options.MaxCallTimeout, or its default.
	maxCallTimeout time.Duration
	// inFlight holds a token per guarded request in progress, streams
	// one per event stream open.
	inFlight chan struct{}
	streams  chan struct{}
	// now is the clock of ages and durations in answers.
	now func() time.Time
	// dash keeps the dashboard's snapshots and history; sessions its
	// cookies.
	dash     *dashboard
	sessions *sessions
}

// NewHandler returns the endpoint's routes over n (see the package
// documentation). It is safe for concurrent use. It fails with
// opts.Validate's error. It does not serve TLS itself: opts.TLS only says
// whether it trusts the client certificates of the requests' connections
// (http.Request.TLS).
func NewHandler(n Node, opts Options) (http.Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return newHandler(n, opts).routes(), nil
}

// Validate reports the first problem of o that NewHandler and Listen
// refuse, wrapping ErrInvalidOptions: a token whose secret is shorter
// than MinTokenLen or has a character a bearer token cannot carry, an
// unknown role, a secret given twice, a negative MaxCallTimeout, or a TLS
// without a certificate or that verifies client certificates without
// ClientCAs. Its errors never contain a secret.
func (o Options) Validate() error {
	if o.MaxCallTimeout < 0 {
		return fmt.Errorf("%w: MaxCallTimeout %v is negative", ErrInvalidOptions, o.MaxCallTimeout)
	}
	if err := validateTLS(o.TLS); err != nil {
		return err
	}
	return validateTokens(o.Tokens)
}

// newHandler returns the handler of valid opts over n.
func newHandler(n Node, opts Options) *handler {
	h := &handler{
		node: n, calls: opts.Calls, auth: newAuthenticator(opts.Tokens, opts.TLS), maxCallTimeout: opts.MaxCallTimeout,
		inFlight: make(chan struct{}, maxInFlight), streams: make(chan struct{}, maxStreams), now: time.Now,
	}
	if h.maxCallTimeout == 0 {
		h.maxCallTimeout = defaultMaxCallTimeout
	}
	h.dash = newDashboard(n, func() time.Time { return h.now() })
	h.sessions = newSessions(h.auth)
	return h
}

// maxWrite bounds how long the longest request of a handler over opts
// takes to answer, once read: the longest ping or call it allows.
func (o Options) maxWrite() time.Duration {
	return max(MaxPingTimeout, o.MaxCallTimeout, defaultMaxCallTimeout)
}

// routes serves each route to the role it needs; the probes, /healthz and
// /readyz, to anyone, since orchestrators send no credentials.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	read := func(f http.HandlerFunc) http.Handler { return h.guard(RoleRead, f) }
	mux.Handle("GET /{$}", read(h.index))
	mux.Handle("GET /v1/members", read(h.members))
	mux.Handle("GET /v1/activations", read(h.activations))
	mux.Handle("GET /v1/owner", read(h.owner))
	mux.Handle("GET /v1/status", read(h.status))
	mux.Handle("GET /v1/ping", read(h.ping))
	mux.Handle("GET /v1/events", h.guardIn(RoleRead, h.streams, errStreamsBusy, http.HandlerFunc(h.events)))
	mux.Handle("POST /v1/call", h.guard(RoleOperator, http.HandlerFunc(h.call)))
	mux.Handle("GET /metrics", h.guard(RoleRead, promhttp.HandlerFor(h.node.Metrics(), promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", h.health)
	mux.HandleFunc("GET /readyz", h.ready)
	h.dashRoutes(mux)
	return mux
}

func (h *handler) index(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Index{Node: h.node.Name(), Endpoints: endpoints})
}

// members serves the members as the node sees them, each with what it
// said about itself when pinged (admin address, routing version), unless
// ping=false.
func (h *handler) members(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	pongs := map[string]PingResult{}
	if r.URL.Query().Get("ping") != "false" {
		ctx, cancel := context.WithTimeout(r.Context(), membersPingTimeout)
		for _, p := range h.node.PingAll(ctx) {
			pongs[p.Node] = p
		}
		cancel()
	}
	var out []Member
	for _, m := range h.node.Members() {
		caps := m.Capabilities
		if caps == nil {
			caps = []string{}
		}
		j := Member{
			Name: m.Name, Self: m.Self, State: m.State, GossipAddr: m.GossipAddr, RemoteAddr: m.RemoteAddr,
			Capabilities: caps, Labels: m.Labels, LastSeen: m.LastSeen, LastSeenAgo: seconds(now.Sub(m.LastSeen)),
			ProbeRTTMs: millis(m.ProbeRTT),
		}
		if p, ok := pongs[m.Name]; ok {
			if p.Err != nil {
				j.PingError = p.Err.Error()
			} else {
				j.AdminAddr, j.RoutingVersion, j.PingRTTMs = p.AdminAddr, formatVersion(p.RoutingVersion), millis(p.RTT)
			}
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, Members{
		Node: h.node.Name(), RoutingVersion: formatVersion(h.node.RoutingVersion()), Members: out,
	})
}

// activations serves the activations of the node, sorted by capability
// and ID, at most limit of them (default 1000, 0 for all).
func (h *handler) activations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultActivationsLimit
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want a count, 0 for all", s))
			return
		}
		limit = v
	}
	capability := q.Get("capability")
	now := h.now()
	var acts []Activation
	for _, a := range h.node.Activations() {
		if capability != "" && a.Capability != capability {
			continue
		}
		acts = append(acts, Activation{
			Capability: a.Capability, ID: a.ID, Shard: a.Shard, PID: a.PID, Since: a.Since,
			AgeSeconds: seconds(now.Sub(a.Since)), IdleSeconds: seconds(now.Sub(a.LastUsed)), Origin: a.Origin,
		})
	}
	slices.SortFunc(acts, func(a, b Activation) int {
		if c := strings.Compare(a.Capability, b.Capability); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	total := len(acts)
	if limit > 0 && len(acts) > limit {
		acts = acts[:limit]
	}
	if acts == nil {
		acts = []Activation{}
	}
	writeJSON(w, http.StatusOK, Activations{
		Node: h.node.Name(), Total: total, Truncated: len(acts) < total, Activations: acts,
	})
}

// owner serves where (capability, id) lives as the node sees it.
func (h *handler) owner(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := h.node.Locate(q.Get("capability"), q.Get("id"))
	if err != nil {
		writeError(w, statusOf(err, http.StatusNotFound), err)
		return
	}
	members := make([]RingMember, 0, len(p.Members))
	members = append(members, p.Members...)
	writeJSON(w, http.StatusOK, Owner{
		Node: h.node.Name(), Capability: p.Capability, ID: p.ID, Shard: p.Shard, Owner: p.Owner,
		RingVersion: formatVersion(p.RingVersion), RoutingVersion: formatVersion(p.RoutingVersion),
		RingNodes: p.RingNodes, Requires: p.Requires, Members: members,
	})
}

// status serves the node's ClusterStatus.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st := h.node.Status(r.Context())
	reasons := make([]Reason, 0, len(st.Reasons))
	reasons = append(reasons, st.Reasons...)
	versions := map[string]string{}
	for name, v := range st.RoutingVersions {
		versions[name] = formatVersion(v)
	}
	writeJSON(w, http.StatusOK, Status{
		Node: st.Node, Status: st.Status, Reasons: reasons, RoutingVersion: formatVersion(st.RoutingVersion),
		RoutingVersions: versions, Members: st.Members, CheckedAt: st.CheckedAt,
	})
}

// ping pings node, or every member, through the mesh.
func (h *handler) ping(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	timeout := defaultPingTimeout
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive duration such as 500ms", s))
			return
		}
		if d > MaxPingTimeout {
			writeError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want at most %v", s, MaxPingTimeout))
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var pongs []PingResult
	if node := q.Get("node"); node != "" {
		p, err := h.node.Ping(ctx, node)
		if errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusNotFound, err)
			return
		}
		if err != nil {
			p = PingResult{Node: node, Err: err}
		}
		pongs = []PingResult{p}
	} else {
		pongs = h.node.PingAll(ctx)
	}
	out := make([]Pong, 0, len(pongs))
	for _, p := range pongs {
		j := Pong{Node: p.Node}
		if p.Err != nil {
			j.Error = p.Err.Error()
		} else {
			j.RTTMs, j.RoutingVersion, j.AdminAddr = millis(p.RTT), formatVersion(p.RoutingVersion), p.AdminAddr
			j.Activations, j.Draining = p.Activations, p.Draining
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, Pings{Node: h.node.Name(), Pings: out})
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Health{Node: h.node.Name(), Status: "ok"})
}

// ready answers 200 while the node is ready, 503 with the reason
// otherwise.
func (h *handler) ready(w http.ResponseWriter, _ *http.Request) {
	if err := h.node.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, Ready{Node: h.node.Name(), Ready: false, Reason: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, Ready{Node: h.node.Name(), Ready: true})
}

// statusOf is the HTTP status that answers err: 400 for ErrInvalid, 404
// for ErrNotFound, 503 for ErrUnavailable, else otherwise.
func statusOf(err error, otherwise int) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return otherwise
}

// writeJSON answers with v as indented JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers with err as an Error.
func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, Error{Error: err.Error()})
}

// formatVersion writes a routing or ring version as 16 hex digits.
func formatVersion(v uint64) string { return fmt.Sprintf("%016x", v) }

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1e3 }

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
