package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// hostile is a string that would run a script if a page wrote it as
// markup.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>`

// dashNode is a fake node of three members offering room, one of them
// with a hostile name and label, and shard counts on its ring.
func dashNode() *fakeNode {
	f := sampleNode()
	f.members = append(f.members, MemberInfo{Name: hostile, State: "alive", Capabilities: []string{"room"},
		Labels: map[string]string{"note": hostile}, LastSeen: t0})
	f.rings = []RingInfo{{Capability: "room", Version: 0x2127aab6b7f9f535, Shards: 4096,
		Owners: map[string]int{"node-1": 2000, "node-2": 1000, hostile: 1096}}}
	return f
}

// dashTokens are a read and an operator token.
var dashTokens = []Token{{Secret: "read-token-0123456789"}, {Secret: "oper-token-0123456789", Role: RoleOperator}}

// TestDashboardEscapes: names, labels and IDs from the network are text
// in every page the dashboard serves, never markup.
func TestDashboardEscapes(t *testing.T) {
	f := dashNode()
	f.placement.Owner = hostile
	f.placement.RingNodes = []string{"node-1", hostile}
	for _, target := range []string{"/dashboard", "/dashboard/where?capability=room&id=" + url.QueryEscape(hostile)} {
		r := newRequest("GET", target, "")
		r.Header.Set("Accept", "text/html")
		w := serveWith(t, f, Options{}, r)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", target, w.Code, body)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s: hostile markup written as markup:\n%s", target, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: hostile name not written as text:\n%s", target, body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", target, ct)
		}
	}
	// The JSON the page's script reads escapes markup too, and the
	// script writes it only as text (the browser test checks that).
	w := serve(t, f, false, "GET", "/dashboard/where?capability=room&id=x", "")
	if strings.Contains(w.Body.String(), "<script>") {
		t.Errorf("where JSON carries raw markup: %s", w.Body.String())
	}
}

// TestDashboardPage: the page lists the members with their states, the
// ring's shard counts, and loads only its own script and style sheet.
func TestDashboardPage(t *testing.T) {
	w := serve(t, dashNode(), false, "GET", "/dashboard", "")
	body := w.Body.String()
	for _, want := range []string{
		`<tr data-member="node-1" data-state="alive">`,
		`<tr data-member="node-3" data-state="suspect">`,
		`<table class="ring" data-capability="room" data-shards="4096">`,
		`<tr data-owner="node-1" data-shards="2000">`,
		`<script src="/dashboard/static/dashboard.js" defer></script>`,
		`data-kind="start"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if strings.Count(body, "<script") != 1 {
		t.Errorf("page has inline scripts:\n%s", body)
	}
	for _, asset := range []string{"/dashboard/static/dashboard.js", "/dashboard/static/dashboard.css"} {
		w := serve(t, dashNode(), false, "GET", asset, "")
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Errorf("%s: %d, %d bytes", asset, w.Code, w.Body.Len())
		}
	}
	// Nothing else of the embedded directory is served.
	for _, target := range []string{"/dashboard/static/", "/dashboard/static/page.html", "/dashboard/static/../dashboard/page.html"} {
		if w := serve(t, dashNode(), false, "GET", target, ""); w.Code == http.StatusOK {
			t.Errorf("%s: 200:\n%s", target, w.Body.String())
		}
	}
}

// TestDashboardHeaders: every dashboard answer forbids inline scripts,
// other origins and framing, and is not cached.
func TestDashboardHeaders(t *testing.T) {
	for _, target := range []string{"/dashboard", "/dashboard/where?capability=room&id=x", "/dashboard/static/dashboard.js"} {
		for _, opts := range []Options{{}, {Tokens: dashTokens}} {
			w := serveWith(t, dashNode(), opts, newRequest("GET", target, ""))
			h := w.Header()
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s (tokens %d): CSP %q lacks %q", target, len(opts.Tokens), csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: CSP allows inline: %q", target, csp)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s (tokens %d): headers %v", target, len(opts.Tokens), h)
			}
		}
	}
}

// login posts the token to /dashboard/login of h, as the login form does,
// and returns the answer.
func login(h http.Handler, token string, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/dashboard/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://example.com")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestDashboardAuth: with tokens, the dashboard needs a read token, as a
// bearer header or traded once for a session cookie that opens only the
// dashboard, is not the token, and cannot be forged, moved to another
// node or used past its expiry.
func TestDashboardAuth(t *testing.T) {
	f := dashNode()
	h := newHandler(f, Options{Tokens: dashTokens})
	now := t0
	h.now = func() time.Time { return now }
	routes := h.routes()
	get := func(target string, edit func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", target, nil)
		if edit != nil {
			edit(r)
		}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		return w
	}

	// Without credentials: the login form, nothing of the cluster.
	w := get("/dashboard", nil)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `action="/dashboard/login"`) ||
		strings.Contains(w.Body.String(), "node-2") || w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d %v\n%s", w.Code, w.Header(), w.Body.String())
	}
	for _, target := range []string{"/dashboard/events", "/dashboard/where?capability=room&id=x", "/dashboard/static/dashboard.js"} {
		if w := get(target, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d", target, w.Code)
		}
	}
	// A bearer read token opens the page.
	if w := get("/dashboard", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+dashTokens[0].Secret) }); w.Code != http.StatusOK {
		t.Errorf("bearer read token: %d", w.Code)
	}

	// A wrong token gets no cookie.
	if w := login(routes, "wrong-token-0123456789", nil); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	// A login posted from another site's page is refused, whatever the
	// token.
	for name, edit := range map[string]func(*http.Request){
		"cross-site":  func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"same-site":   func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") },
		"origin only": func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Set("Origin", "http://evil.example") },
	} {
		if w := login(routes, dashTokens[0].Secret, edit); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
			t.Errorf("%s login: %d, cookies %v", name, w.Code, w.Result().Cookies())
		}
	}

	// The read token is traded for a cookie, and the browser sent back.
	w = login(routes, dashTokens[0].Secret, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/dashboard" {
		t.Fatalf("login: %d %v", w.Code, w.Header())
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies", len(cookies))
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/dashboard" || c.MaxAge <= 0 || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/dashboard, a MaxAge, not Secure over HTTP", c)
	}
	// httptest's requests go to example.com, port 80 implied.
	if c.Name != sessionCookie {
		t.Errorf("cookie named %q, want %q", c.Name, sessionCookie)
	}
	for _, tok := range dashTokens {
		if strings.Contains(c.Value, tok.Secret) {
			t.Errorf("cookie carries the token")
		}
	}
	withCookie := func(value string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: value}) }
	}
	for _, target := range []string{"/dashboard", "/dashboard/where?capability=room&id=x", "/dashboard/static/dashboard.js"} {
		if w := get(target, withCookie(c.Value)); w.Code != http.StatusOK {
			t.Errorf("%s with the cookie: %d", target, w.Code)
		}
	}
	// The cookie opens nothing but the dashboard.
	for _, target := range []string{"/v1/members", "/metrics", "/"} {
		if w := get(target, withCookie(c.Value)); w.Code != http.StatusUnauthorized {
			t.Errorf("%s with the cookie: %d, want 401", target, w.Code)
		}
	}
	// Forged, altered or extended cookies are refused.
	exp, mac, _ := strings.Cut(c.Value, ".")
	for name, value := range map[string]string{
		"empty":        "",
		"no mac":       exp,
		"flipped mac":  exp + "." + flip(mac[:1]) + mac[1:],
		"extended":     fmt.Sprint(t0.Add(1000*time.Hour).Unix()) + "." + mac,
		"the token":    dashTokens[0].Secret,
		"huge":         strings.Repeat("1", 200) + "." + mac,
		"other handle": otherCookie(t),
	} {
		if w := get("/dashboard/where?capability=room&id=x", withCookie(value)); w.Code != http.StatusUnauthorized {
			t.Errorf("%s cookie: %d, want 401", name, w.Code)
		}
	}
	// It ends with its session.
	now = now.Add(sessionTTL)
	if w := get("/dashboard/where?capability=room&id=x", withCookie(c.Value)); w.Code != http.StatusUnauthorized {
		t.Errorf("expired cookie: %d, want 401", w.Code)
	}
}

// flip returns another base64url character than c.
func flip(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}

// TestCookieName: each port of a host has its own session cookie.
func TestCookieName(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:9101": "mesh_dashboard_9101", "[::1]:9102": "mesh_dashboard_9102", "node-1": "mesh_dashboard",
		"[::1]": "mesh_dashboard", "h:": "mesh_dashboard", "h:12a": "mesh_dashboard", "h:123456": "mesh_dashboard",
		"h:;x=1": "mesh_dashboard",
	} {
		r := httptest.NewRequest("GET", "/dashboard", nil)
		r.Host = host
		if got := cookieName(r); got != want {
			t.Errorf("Host %q: cookie %q, want %q", host, got, want)
		}
	}
}

// otherCookie is a valid session cookie of another handler with the same
// tokens: another node's, or this one's before a restart.
func otherCookie(t *testing.T) string {
	other := newHandler(dashNode(), Options{Tokens: dashTokens})
	other.now = func() time.Time { return t0 }
	w := login(other.routes(), dashTokens[0].Secret, nil)
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("other login: %d", w.Code)
	}
	return cs[0].Value
}

// TestDashboardWhere: the where box validates its input before asking
// the node, and says where a process lives and why.
func TestDashboardWhere(t *testing.T) {
	long := strings.Repeat("a", maxWhereInput+1)
	for _, tt := range []struct {
		name, query string
		locateErr   error
		status      int
		want        string
	}{
		{"no capability", "id=x", nil, http.StatusBadRequest, "give both"},
		{"no id", "capability=room", nil, http.StatusBadRequest, "give both"},
		{"empty", "capability=&id=", nil, http.StatusBadRequest, "give both"},
		{"long id", "capability=room&id=" + long, nil, http.StatusBadRequest, "over 1024"},
		{"long capability", "capability=" + long + "&id=x", nil, http.StatusBadRequest, "over 1024"},
		{"invalid", "capability=Room!&id=x", Mark(errors.New(`mesh: invalid request: capability "Room!"`), ErrInvalid),
			http.StatusBadRequest, "invalid request"},
		{"not offered", "capability=nobody&id=x", Mark(errors.New("mesh: no node offers the capability"), ErrNotFound),
			http.StatusNotFound, "no node offers"},
		{"ok", "capability=room&id=news", nil, http.StatusOK, `"owner": "node-2"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := dashNode()
			f.locateErr = tt.locateErr
			w := serve(t, f, false, "GET", "/dashboard/where?"+tt.query, "")
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Fatalf("%d %s, want %d with %q", w.Code, w.Body.String(), tt.status, tt.want)
			}
		})
	}
	w := serve(t, dashNode(), false, "GET", "/dashboard/where?capability=room&id=news", "")
	var ans dashWhere
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
		t.Fatal(err)
	}
	want := []dashOfferedBy{{Node: "node-1", State: "alive"}, {Node: "node-2", State: "alive", Owner: true}}
	if ans.Shard != 123 || ans.RingVersion != "2127aab6b7f9f535" || fmt.Sprint(ans.Offered) != fmt.Sprint(want) ||
		!strings.Contains(ans.Why, "shard 123") {
		t.Errorf("where: %+v", ans)
	}
}

// sseServer serves a handler over f with opts on a real HTTP server, and
// returns its URL and the handler.
func sseServer(t *testing.T, f *fakeNode, opts Options) (string, *handler) {
	t.Helper()
	h := newHandler(f, opts)
	srv := httptest.NewServer(h.routes())
	t.Cleanup(func() {
		h.dash.close()
		srv.Close()
	})
	return srv.URL, h
}

// openEvents opens GET /dashboard/events and returns the answer, with
// its first snapshot read if it is 200.
func openEvents(t *testing.T, base string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return resp, readSnapshot(t, bufio.NewReader(resp.Body))
}

// readSnapshot reads the next snapshot event of a stream.
func readSnapshot(t *testing.T, r *bufio.Reader) map[string]any {
	t.Helper()
	event := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "snapshot":
			var snap map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &snap); err != nil {
				t.Fatalf("snapshot %q: %v", line, err)
			}
			return snap
		}
	}
}

// TestDashboardEvents: a live page gets a snapshot every second, each
// one line of JSON with the members and rings.
func TestDashboardEvents(t *testing.T) {
	base, _ := sseServer(t, dashNode(), Options{})
	resp, snap := openEvents(t, base)
	defer resp.Body.Close()
	if snap["node"] != "node-1" || len(snap["members"].([]any)) != 4 || len(snap["rings"].([]any)) != 1 {
		t.Fatalf("snapshot %v", snap)
	}
	// Each is sent a second after the one before; the view is read again
	// for it unless it was read less than 0.9 s before (a late tick
	// followed by a punctual one): of three, at least two are new.
	r := bufio.NewReader(resp.Body)
	seen := map[any]bool{snap["at"]: true}
	for range 3 {
		seen[readSnapshot(t, r)["at"]] = true
	}
	if len(seen) < 3 {
		t.Errorf("4 snapshots of %d moments: %v", len(seen), seen)
	}
}

// TestDashboardViewersBounded: at most maxDashViewers live pages at once;
// one more answers 503, and a page that goes frees its place.
func TestDashboardViewersBounded(t *testing.T) {
	base, h := sseServer(t, dashNode(), Options{})
	var open []*http.Response
	for range maxDashViewers {
		resp, _ := openEvents(t, base)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("viewer %d: %d", len(open), resp.StatusCode)
		}
		open = append(open, resp)
	}
	resp, _ := openEvents(t, base)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("viewer %d: %d %s, want 503 with Retry-After", maxDashViewers+1, resp.StatusCode, body)
	}
	// Live pages take no place among the other requests'.
	if w := httptest.NewRecorder(); true {
		h.routes().ServeHTTP(w, httptest.NewRequest("GET", "/v1/members?ping=false", nil))
		if w.Code != http.StatusOK {
			t.Errorf("members while %d pages are live: %d", maxDashViewers, w.Code)
		}
	}
	open[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.dash.viewers) == maxDashViewers {
		if time.Now().After(deadline) {
			t.Fatal("a closed page kept its place")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, _ = openEvents(t, base)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after one went: %d", resp.StatusCode)
	}
	resp.Body.Close()
	for _, r := range open[1:] {
		r.Body.Close()
	}
}

// TestDashboardSlowViewer: a page that does not read is dropped once a
// snapshot could not be written for its write timeout, and meanwhile the
// other pages get theirs every second.
func TestDashboardSlowViewer(t *testing.T) {
	f := dashNode()
	// Snapshots of ~400 KB each fill the slow client's buffers at once.
	for i := range 2000 {
		f.members = append(f.members, MemberInfo{Name: fmt.Sprintf("m-%04d", i), State: "alive",
			Labels: map[string]string{"pad": strings.Repeat("x", 150)}})
	}
	h := newHandler(f, Options{})
	h.dash.writeTimeout = time.Second
	srv := httptest.NewServer(h.routes())
	defer srv.Close()
	defer h.dash.close()
	base := srv.URL
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if _, err := fmt.Fprintf(conn, "GET /dashboard/events HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host); err != nil {
		t.Fatal(err)
	}
	// The slow client never reads. Another page goes on being served.
	for wait := time.Now().Add(10 * time.Second); len(h.dash.viewers) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the slow page never started")
		}
	}
	resp, _ := openEvents(t, base)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	start := time.Now()
	for range 3 {
		readSnapshot(t, r)
	}
	// The slow page is dropped: its place frees once a write waited
	// the write timeout (and the fast page's stays).
	deadline := time.Now().Add(h.dash.writeTimeout + 30*time.Second)
	for len(h.dash.viewers) > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("slow viewer still held its place after %v", time.Since(start))
		}
		readSnapshot(t, r)
	}
}

// TestDashboardShutdown: Shutdown ends the live pages at once and stops
// the dashboard's refresh.
func TestDashboardShutdown(t *testing.T) {
	s, err := Listen("127.0.0.1:0", dashNode(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr() + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readSnapshot(t, bufio.NewReader(resp.Body))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	s.Shutdown(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Shutdown waited for the live page until its deadline (%v)", time.Since(start))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("stream ended with %v", err)
	}
}

// TestDashboardOutlivesTimeouts: a live page goes on past the server's
// read and write timeouts, which bound ordinary requests (Listen's are
// 30 s and 40 s; here 300 ms).
func TestDashboardOutlivesTimeouts(t *testing.T) {
	h := newHandler(dashNode(), Options{})
	srv := httptest.NewUnstartedServer(h.routes())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	defer h.dash.close()
	resp, _ := openEvents(t, srv.URL)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	start := time.Now()
	for range 3 {
		readSnapshot(t, r)
	}
	if d := time.Since(start); d < 4*srv.Config.WriteTimeout {
		t.Fatalf("3 snapshots in %v: want them a second apart", d)
	}
}

// TestDashboardLogin: a login form over its bound is refused, and without
// tokens the login only sends the browser to the page.
func TestDashboardLogin(t *testing.T) {
	h := newHandler(dashNode(), Options{Tokens: dashTokens}).routes()
	if w := login(h, strings.Repeat("a", maxLoginBody), nil); w.Code != http.StatusBadRequest || len(w.Result().Cookies()) != 0 {
		t.Errorf("a %d-byte form: %d, cookies %v", maxLoginBody, w.Code, w.Result().Cookies())
	}
	open := newHandler(dashNode(), Options{}).routes()
	if w := login(open, "", nil); w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 0 {
		t.Errorf("login without tokens: %d, cookies %v", w.Code, w.Result().Cookies())
	}
}

// FuzzSessionCookie: no cookie value makes the check panic, and none but
// the one issued opens a session.
func FuzzSessionCookie(f *testing.F) {
	a := newAuthenticator(dashTokens, nil)
	s := newSessions(a)
	issued, ok := s.issue(a, dashTokens[0].Secret, t0.Add(time.Hour))
	if !ok {
		f.Fatal("no cookie issued for a token")
	}
	f.Add(issued)
	f.Add("")
	f.Add(".")
	f.Add("99999999999999999999.AAAA")
	f.Add(dashTokens[0].Secret)
	exp, mac, _ := strings.Cut(issued, ".")
	f.Add("+" + exp + "." + mac)
	f.Add("0" + exp + "." + mac)
	f.Add(exp + "." + mac[:len(mac)-1] + flip(mac[len(mac)-1:]))
	f.Fuzz(func(t *testing.T, value string) {
		if s.valid(value, t0) && value != issued {
			t.Errorf("cookie %q opens a session", value)
		}
	})
}
