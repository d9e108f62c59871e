package admin

import (
	"embed"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of the dashboard's routes.
const (
	// maxDashViewers bounds the live pages (GET /dashboard/events) a
	// node serves at once; one more answers 503. Each costs a goroutine,
	// a connection and a snapshot a second.
	maxDashViewers = 16
	// dashWriteTimeout bounds the write of one snapshot to a live page: a
	// client that does not read for that long is dropped, and delays
	// nobody else meanwhile.
	dashWriteTimeout = 10 * time.Second
	// maxWhereInput bounds the capability and the ID the where box takes,
	// in bytes, before the node is asked.
	maxWhereInput = 1024
)

// dashAssets are the page's template, script and style sheet.
//
//go:embed dashboard
var dashAssets embed.FS

// dashTemplates are the dashboard's pages.
var dashTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"labels": sortedLabels,
	"deref":  func(p *int64) int64 { return *p },
	"ms":     func(p *float64) string { return strconv.FormatFloat(*p, 'f', 3, 64) + " ms" },
}).ParseFS(dashAssets, "dashboard/*.html"))

// dashAsset serves the embedded file name of the dashboard directory as
// contentType: the page's script or its style sheet, nothing else.
func dashAsset(name, contentType string) http.Handler {
	b, err := dashAssets.ReadFile("dashboard/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	})
}

// dashSnapshot is what a live page receives every second, as JSON, and
// what the page is first drawn from.
type dashSnapshot struct {
	Node           string    `json:"node"`
	At             time.Time `json:"at"`
	RoutingVersion string    `json:"routing_version"`
	// Members are the members in the view, sorted by name, then those
	// gone from it in the last ten minutes (state "failed" or "left").
	Members []dashMember `json:"members"`
	Rings   []dashRing   `json:"rings"`
	// Calls are the capabilities this node called, with their rates over
	// Window and their history over History, at the times of SeriesAt
	// (Unix milliseconds).
	Calls                 []dashCalls `json:"calls"`
	CapabilitiesTruncated bool        `json:"capabilities_truncated,omitempty"`
	Window                string      `json:"window"`
	History               string      `json:"history"`
	SeriesAt              []int64     `json:"series_at"`
	// Timeline is newest first.
	Timeline []dashEvent `json:"timeline"`

	json []byte
}

type dashMember struct {
	Name         string            `json:"name"`
	Self         bool              `json:"self,omitempty"`
	State        string            `json:"state"`
	Capabilities []string          `json:"capabilities"`
	Labels       map[string]string `json:"labels"`
	// Activations is the member's count of active processes: the node's
	// own from its metrics, the others' from their last answer to a ping
	// (pinged every 10 s while a page is live); absent if unknown.
	Activations *int64  `json:"activations,omitempty"`
	LastSeenAgo float64 `json:"last_seen_ago_seconds"`
	// Since is when a departed member went.
	Since time.Time `json:"since,omitzero"`
}

type dashRing struct {
	Capability string      `json:"capability"`
	Version    string      `json:"version"`
	Shards     int         `json:"shards"`
	Owners     []dashOwner `json:"owners"`
}

type dashOwner struct {
	Node   string `json:"node"`
	Shards int    `json:"shards"`
}

type dashCalls struct {
	Capability   string   `json:"capability"`
	CallsPerSec  float64  `json:"calls_per_sec"`
	ErrorsPerSec float64  `json:"errors_per_sec"`
	Errors       float64  `json:"errors"`
	P99Ms        *float64 `json:"p99_ms"`
	// The series: calls/s, errors/s and p99 between each sample and the
	// one before.
	SeriesCalls  []float64  `json:"series_calls"`
	SeriesErrors []float64  `json:"series_errors"`
	SeriesP99Ms  []*float64 `json:"series_p99_ms"`
}

// dashEvent is an entry of the timeline. Kind is start, join, leave,
// failure, suspect, alive, draining, rebalance or handoff.
type dashEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject,omitempty"`
	Detail  string    `json:"detail"`
}

// dashWhere is the answer of GET /dashboard/where.
type dashWhere struct {
	Node           string          `json:"node"`
	Capability     string          `json:"capability"`
	ID             string          `json:"id"`
	Shard          uint32          `json:"shard"`
	Owner          string          `json:"owner"`
	RingVersion    string          `json:"ring_version"`
	RoutingVersion string          `json:"routing_version"`
	Offered        []dashOfferedBy `json:"offered_by"`
	Why            string          `json:"why"`
}

// dashOfferedBy is a node on the capability's ring, with its state.
type dashOfferedBy struct {
	Node  string `json:"node"`
	State string `json:"state"`
	Owner bool   `json:"owner,omitempty"`
}

// pageData is what the page template is given.
type pageData struct {
	Snap *dashSnapshot
}

// dashRoutes adds the dashboard's routes to mux.
func (h *handler) dashRoutes(mux *http.ServeMux) {
	mux.Handle("GET /dashboard", h.dashGuard(true, http.HandlerFunc(h.dashPage)))
	mux.Handle("GET /dashboard/events", h.dashGuard(false, http.HandlerFunc(h.dashEvents)))
	mux.Handle("GET /dashboard/where", h.dashGuard(true, http.HandlerFunc(h.dashWhere)))
	mux.Handle("GET /dashboard/static/dashboard.js", h.dashGuard(true, dashAsset("dashboard.js", "text/javascript; charset=utf-8")))
	mux.Handle("GET /dashboard/static/dashboard.css", h.dashGuard(true, dashAsset("dashboard.css", "text/css; charset=utf-8")))
	mux.HandleFunc("POST /dashboard/login", h.login)
}

// dashHeaders sets the headers of every dashboard answer: the page runs
// only its own script and style sheet, talks only to its endpoint, is
// framed by no one, and is not cached or sent as a referrer.
func dashHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// dashGuard serves next to requests with RoleRead by the endpoint's
// credentials or a session cookie. Without them the page answers 401
// with the login form, the other routes 401 with an Error. If counted,
// the request takes a place among the maxInFlight.
func (h *handler) dashGuard(counted bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dashHeaders(w)
		if _, challenge, err := h.dashRole(r); err != nil {
			w.Header().Set("WWW-Authenticate", challenge)
			if r.URL.Path == "/dashboard" {
				h.loginPage(w, http.StatusUnauthorized, "")
				return
			}
			writeError(w, http.StatusUnauthorized, err)
			return
		}
		if counted {
			select {
			case h.inFlight <- struct{}{}:
				defer func() { <-h.inFlight }()
			default:
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, errBusy)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// loginPage answers with the form that takes a token, saying problem if
// set.
func (h *handler) loginPage(w http.ResponseWriter, status int, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = dashTemplates.ExecuteTemplate(w, "login.html", map[string]string{"Node": h.node.Name(), "Problem": problem})
}

// dashPage serves the page, drawn from the latest snapshot; its script
// then keeps it live.
func (h *handler) dashPage(w http.ResponseWriter, r *http.Request) {
	snap := h.dash.snapshot(r.Context())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = dashTemplates.ExecuteTemplate(w, "page.html", pageData{Snap: snap})
}

// errTooManyViewers answers a live page beyond maxDashViewers.
var errTooManyViewers = errors.New("too many live dashboards on this node: close one or try again")

// dashEvents sends a live page the latest snapshot every second, as
// server-sent events, until the client goes or the server closes.
func (h *handler) dashEvents(w http.ResponseWriter, r *http.Request) {
	d := h.dash
	select {
	case d.viewers <- struct{}{}:
		defer func() { <-d.viewers }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, errTooManyViewers)
		return
	}
	// The server's write deadline, which bounds an ordinary answer, is
	// renewed at each snapshot instead (where the ResponseWriter supports
	// it: a test's recorder does not). Its read deadline does not end the
	// stream: net/http clears it once the request is read.
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(d.writeTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if send([]byte("retry: 2000\n\n")) != nil {
		return
	}
	tick := time.NewTicker(dashRefresh)
	defer tick.Stop()
	for {
		snap := d.snapshot(r.Context())
		msg := make([]byte, 0, len(snap.json)+32)
		msg = append(append(append(msg, "event: snapshot\ndata: "...), snap.json...), "\n\n"...)
		if send(msg) != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-tick.C:
		}
	}
}

// dashWhere says where (capability, id) lives and why: its shard, the
// shard's owner on the capability's ring, and the members on that ring.
// It answers JSON, or HTML to a browser that asks for it (a form sent
// without the page's script).
func (h *handler) dashWhere(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	capability, id := q.Get("capability"), q.Get("id")
	html := strings.Contains(r.Header.Get("Accept"), "text/html")
	fail := func(status int, err error) {
		if html {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			_ = dashTemplates.ExecuteTemplate(w, "where.html", map[string]any{"Node": h.node.Name(), "Error": err.Error()})
			return
		}
		writeError(w, status, err)
	}
	switch {
	case capability == "" || id == "":
		fail(http.StatusBadRequest, errors.New("give both a capability and an ID"))
		return
	case len(capability) > maxWhereInput || len(id) > maxWhereInput:
		fail(http.StatusBadRequest, errors.New("a capability or ID over 1024 bytes is no process's"))
		return
	}
	p, err := h.node.Locate(capability, id)
	if err != nil {
		fail(statusOf(err, http.StatusNotFound), err)
		return
	}
	states := map[string]string{}
	for _, m := range h.node.Members() {
		states[m.Name] = m.State
	}
	ans := dashWhere{
		Node: h.node.Name(), Capability: p.Capability, ID: p.ID, Shard: p.Shard, Owner: p.Owner,
		RingVersion: formatVersion(p.RingVersion), RoutingVersion: formatVersion(p.RoutingVersion),
		Offered: []dashOfferedBy{},
	}
	for _, n := range p.RingNodes {
		st := states[n]
		if st == "" {
			st = "unknown"
		}
		ans.Offered = append(ans.Offered, dashOfferedBy{Node: n, State: st, Owner: n == p.Owner})
	}
	ans.Why = whyText(p)
	if html {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = dashTemplates.ExecuteTemplate(w, "where.html", map[string]any{"Node": h.node.Name(), "Where": ans})
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// whyText explains a placement in a sentence.
func whyText(p Placement) string {
	return "the ID hashes to shard " + strconv.FormatUint(uint64(p.Shard), 10) + "; on the ring of " + p.Capability + " (" +
		strconv.Itoa(len(p.RingNodes)) + " nodes offer it, ring version " + formatVersion(p.RingVersion) + ") that shard is " +
		p.Owner + "'s, so " + p.Owner + " activates the process on its first call"
}

// sortedLabels returns labels as "key=value" strings sorted by key.
func sortedLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		out = append(out, k+"="+labels[k])
	}
	return out
}
