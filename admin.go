package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// Admin endpoint limits.
const (
	// adminPingTimeout bounds the pings of /v1/members and, by default,
	// of /v1/ping.
	adminPingTimeout = 500 * time.Millisecond
	// defaultActivationsLimit is how many activations /v1/activations
	// lists unless asked for another limit.
	defaultActivationsLimit = 1000
	// maxCallBody bounds the request body of /v1/call.
	maxCallBody = 1 << 20
)

// admin is a node's admin HTTP endpoint.
type admin struct {
	srv  *http.Server
	addr string
	wg   sync.WaitGroup
}

// startAdmin serves the admin endpoint on Config.AdminAddr, if set.
func (n *Node) startAdmin() error {
	if n.cfg.AdminAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("mesh: admin endpoint: %w", err)
	}
	a := &admin{
		addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           n.adminHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(n.logger.With("component", "admin").Handler(), slog.LevelDebug),
		},
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Warn("admin endpoint stopped", "err", err)
		}
	}()
	n.admin.Store(a)
	n.logger.Info("admin endpoint listening", "addr", a.addr)
	return nil
}

// stopAdmin stops the admin endpoint, letting requests in progress finish
// within ctx or a second, whichever ends first.
func (n *Node) stopAdmin(ctx context.Context) {
	a := n.admin.Load()
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	a.wg.Wait()
}

// AdminAddr returns the address the admin endpoint listens on, or "" if
// the node has none (Config.AdminAddr is empty).
func (n *Node) AdminAddr() string {
	if a := n.admin.Load(); a != nil {
		return a.addr
	}
	return ""
}

// adminEndpoints lists the admin endpoints, for GET /.
var adminEndpoints = []string{
	"GET /v1/members", "GET /v1/activations?capability=C&limit=N", "GET /v1/owner?capability=C&id=ID",
	"GET /v1/status", "GET /v1/ping?node=NAME&timeout=D", "POST /v1/call", "GET /metrics", "GET /healthz", "GET /readyz",
}

func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"node": n.name, "endpoints": adminEndpoints})
	})
	mux.HandleFunc("GET /v1/members", n.handleMembers)
	mux.HandleFunc("GET /v1/activations", n.handleActivations)
	mux.HandleFunc("GET /v1/owner", n.handleOwner)
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("GET /v1/ping", n.handlePing)
	mux.HandleFunc("POST /v1/call", n.handleCall)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"node": n.name, "status": "ok"})
	})
	mux.HandleFunc("GET /readyz", n.handleReady)
	return mux
}

// memberJSON is one member in GET /v1/members.
type memberJSON struct {
	Name           string            `json:"name"`
	Self           bool              `json:"self,omitempty"`
	State          MemberState       `json:"state"`
	GossipAddr     string            `json:"gossip_addr"`
	RemoteAddr     string            `json:"remote_addr"`
	AdminAddr      string            `json:"admin_addr,omitempty"`
	Capabilities   []string          `json:"capabilities"`
	Labels         map[string]string `json:"labels,omitempty"`
	LastSeen       time.Time         `json:"last_seen"`
	LastSeenAgo    float64           `json:"last_seen_ago_seconds"`
	ProbeRTTMs     float64           `json:"probe_rtt_ms,omitempty"`
	RoutingVersion string            `json:"routing_version,omitempty"`
	PingRTTMs      float64           `json:"ping_rtt_ms,omitempty"`
	PingError      string            `json:"ping_error,omitempty"`
}

// handleMembers serves the members as this node sees them, each with what
// it said about itself when pinged (admin address, routing version), unless
// ping=false.
func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	pongs := map[string]Pong{}
	if r.URL.Query().Get("ping") != "false" {
		ctx, cancel := context.WithTimeout(r.Context(), adminPingTimeout)
		for _, p := range n.PingAll(ctx) {
			pongs[p.Node] = p
		}
		cancel()
	}
	var out []memberJSON
	for _, m := range n.Members() {
		caps := m.Capabilities
		if caps == nil {
			caps = []string{}
		}
		j := memberJSON{
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
	writeJSON(w, http.StatusOK, map[string]any{
		"node": n.name, "routing_version": formatVersion(n.RoutingVersion()), "members": out,
	})
}

// activationJSON is one activation in GET /v1/activations.
type activationJSON struct {
	Capability  string    `json:"capability"`
	ID          string    `json:"id"`
	Shard       uint32    `json:"shard"`
	PID         string    `json:"pid"`
	Since       time.Time `json:"since"`
	AgeSeconds  float64   `json:"age_seconds"`
	IdleSeconds float64   `json:"idle_seconds"`
}

// handleActivations serves the activations of this node, sorted by
// capability and ID, at most limit of them (default 1000, 0 for all).
func (n *Node) handleActivations(w http.ResponseWriter, r *http.Request) {
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
	now := time.Now()
	var acts []activationJSON
	for _, a := range n.Activations() {
		if capability != "" && a.Capability != capability {
			continue
		}
		acts = append(acts, activationJSON{
			Capability: a.Capability, ID: a.ID, Shard: a.Shard, PID: a.PID, Since: a.Since,
			AgeSeconds: seconds(now.Sub(a.Since)), IdleSeconds: seconds(now.Sub(a.LastUsed)),
		})
	}
	slices.SortFunc(acts, func(a, b activationJSON) int {
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
		acts = []activationJSON{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"node": n.name, "total": total, "truncated": len(acts) < total, "activations": acts,
	})
}

// handleOwner serves where (capability, id) lives as this node sees it.
func (n *Node) handleOwner(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := n.Locate(q.Get("capability"), q.Get("id"))
	switch {
	case errors.Is(err, ErrInvalidRequest):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusNotFound, err)
		return
	}
	var nodes []string
	if ring := n.routes.Load().table.Ring(p.Capability); ring != nil {
		nodes = ring.Nodes()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"node": n.name, "capability": p.Capability, "id": p.ID, "shard": p.Shard, "owner": p.Owner,
		"ring_version": formatVersion(p.RingVersion), "routing_version": formatVersion(p.RoutingVersion),
		"ring_nodes": nodes,
	})
}

// handleStatus serves Status.
func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := n.Status(r.Context())
	reasons := make([]map[string]string, 0, len(st.Reasons))
	for _, re := range st.Reasons {
		reasons = append(reasons, map[string]string{"kind": re.Kind, "subject": re.Subject, "detail": re.Detail})
	}
	versions := map[string]string{}
	for name, v := range st.RoutingVersions {
		versions[name] = formatVersion(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"node": st.Node, "status": st.Status, "reasons": reasons, "routing_version": formatVersion(st.RoutingVersion),
		"routing_versions": versions, "members": st.Members, "checked_at": st.CheckedAt,
	})
}

// pongJSON is one answer in GET /v1/ping.
type pongJSON struct {
	Node           string  `json:"node"`
	RTTMs          float64 `json:"rtt_ms,omitempty"`
	RoutingVersion string  `json:"routing_version,omitempty"`
	AdminAddr      string  `json:"admin_addr,omitempty"`
	Activations    int64   `json:"activations"`
	Draining       bool    `json:"draining,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// handlePing pings node, or every member, through the mesh.
func (n *Node) handlePing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	timeout := 2 * time.Second
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive duration such as 500ms", s))
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var pongs []Pong
	if node := q.Get("node"); node != "" {
		p, err := n.Ping(ctx, node)
		if errors.Is(err, ErrUnknownMember) {
			writeError(w, http.StatusNotFound, err)
			return
		}
		if err != nil {
			p = Pong{Node: node, Err: err}
		}
		pongs = []Pong{p}
	} else {
		pongs = n.PingAll(ctx)
	}
	out := make([]pongJSON, 0, len(pongs))
	for _, p := range pongs {
		j := pongJSON{Node: p.Node}
		if p.Err != nil {
			j.Error = p.Err.Error()
		} else {
			j.RTTMs, j.RoutingVersion, j.AdminAddr = millis(p.RTT), formatVersion(p.RoutingVersion), p.AdminAddr
			j.Activations, j.Draining = p.Activations, p.Draining
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": n.name, "pings": out})
}

// callRequest is the body of POST /v1/call.
type callRequest struct {
	Capability string `json:"capability"`
	ID         string `json:"id"`
	// Type is the full name of the payload's protobuf message; if empty,
	// Payload must be the JSON form of a google.protobuf.Any, with @type.
	Type    string          `json:"type,omitempty"`
	Payload json.RawMessage `json:"payload"`
	// Timeout bounds the call, such as "2s"; if empty, CallTimeout.
	Timeout string `json:"timeout,omitempty"`
}

// handleCall calls a process with a payload given as protobuf JSON, of a
// message type linked into this node, and answers with the reply as the
// JSON form of a google.protobuf.Any. It is refused unless
// Config.AdminCalls is set.
func (n *Node) handleCall(w http.ResponseWriter, r *http.Request) {
	if !n.cfg.AdminCalls {
		writeError(w, http.StatusForbidden, errors.New("calls through the admin endpoint are off (Config.AdminCalls)"))
		return
	}
	var req callRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	payload, err := decodePayload(req.Type, req.Payload)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive duration such as 2s", req.Timeout))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	start := time.Now()
	reply, err := n.Call(ctx, Request{Capability: req.Capability, ID: req.ID, Payload: payload})
	took := time.Since(start)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ErrInvalidRequest) {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, map[string]any{"node": n.name, "error": err.Error(), "outcome": outcomeOf(err), "took_ms": millis(took)})
		return
	}
	a, err := anypb.New(reply)
	if err == nil {
		var b []byte
		if b, err = protojson.Marshal(a); err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"node": n.name, "reply": json.RawMessage(b), "took_ms": millis(took)})
			return
		}
	}
	writeError(w, http.StatusBadGateway, fmt.Errorf("reply %T: %w", reply, err))
}

// decodePayload makes the message of type typ from its protobuf JSON, or,
// when typ is empty, from the JSON form of a google.protobuf.Any.
func decodePayload(typ string, raw json.RawMessage) (proto.Message, error) {
	if len(raw) == 0 {
		return nil, errors.New("payload is missing")
	}
	if typ == "" {
		var a anypb.Any
		if err := protojson.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("payload (no type given, so an Any with @type): %w", err)
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("payload of type %s: %w", a.GetTypeUrl(), err)
		}
		return m, nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return nil, fmt.Errorf("type %q is not linked into this node: %w", typ, err)
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("payload as %s: %w", typ, err)
	}
	return m, nil
}

// handleReady answers 200 while the node serves and has joined the
// cluster (or needs no seed), 503 otherwise: before it has reached any seed,
// and while it drains.
func (n *Node) handleReady(w http.ResponseWriter, r *http.Request) {
	reason := ""
	switch {
	case n.closing.Load():
		reason = "draining: the node is leaving"
	case len(n.routes.Load().members) < 2 && slices.ContainsFunc(n.cfg.Seeds, func(s string) bool { return s != n.GossipAddr() }):
		reason = "not joined: no seed reached yet"
	}
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"node": n.name, "ready": false, "reason": reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": n.name, "ready": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1e3 }

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
