package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A browser cannot send a bearer token with the requests of a page
// (EventSource sends no headers of the page's choosing), so the dashboard
// lets a read token be given once, in a form posted to /dashboard/login,
// and trades it for a session cookie. The cookie is not the token: it is
// an expiry and an HMAC of it and of the token's digest under a key the
// handler draws at random when it is made, so it is worth nothing to
// another node or after a restart, opens only the dashboard's routes
// (Path=/dashboard), and ends after sessionTTL or when the token is
// removed.
const (
	// sessionCookie is the cookie's name, followed by the port of the
	// endpoint: browsers keep one cookie jar per host, whatever the port,
	// and several nodes on one host would otherwise overwrite each
	// other's sessions.
	sessionCookie = "mesh_dashboard"
	sessionTTL    = 12 * time.Hour
	// maxLoginBody bounds the login form.
	maxLoginBody = 4 << 10
)

// sessions issues and checks dashboard session cookies.
type sessions struct {
	key [32]byte
	// digests are the SHA-256 of the tokens' secrets.
	digests [][sha256.Size]byte
}

func newSessions(a *authenticator) *sessions {
	s := &sessions{digests: a.digests}
	_, _ = rand.Read(s.key[:]) // crypto/rand.Read never fails
	return s
}

// mac is the HMAC of a session that ends at exp, for the token of digest.
func (s *sessions) mac(exp int64, digest [sha256.Size]byte) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte("mesh-dashboard-session\x00" + strconv.FormatInt(exp, 10) + "\x00"))
	m.Write(digest[:])
	return m.Sum(nil)
}

// issue returns the cookie value of a session for the token whose secret
// is secret, ending at exp, or false if no token has that secret.
func (s *sessions) issue(a *authenticator, secret string, exp time.Time) (string, bool) {
	if _, ok := a.lookup(secret); !ok {
		return "", false
	}
	d := sha256.Sum256([]byte(secret))
	return strconv.FormatInt(exp.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(s.mac(exp.Unix(), d)), true
}

// valid reports whether value is a session cookie this handler issued,
// not expired at now, for a token it still has. It compares the MAC of
// every token in constant time.
func (s *sessions) valid(value string, now time.Time) bool {
	expText, macText, ok := strings.Cut(value, ".")
	if !ok || len(value) > 128 {
		return false
	}
	// Only the canonical forms of both parts: a cookie has one spelling.
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || strconv.FormatInt(exp, 10) != expText || now.Unix() >= exp {
		return false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(macText)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	found := 0
	for _, d := range s.digests {
		found |= subtle.ConstantTimeCompare(got, s.mac(exp, d))
	}
	return found == 1
}

// cookieName is the name of the session cookie for the endpoint r was
// sent to: sessionCookie and the port of its Host, if it has one of
// digits only. A client that sends another Host only picks another name.
func cookieName(r *http.Request) string {
	i := strings.LastIndexByte(r.Host, ':')
	if i < 0 {
		return sessionCookie
	}
	port := r.Host[i+1:]
	if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		return sessionCookie
	}
	return sessionCookie + "_" + port
}

// errCrossSite refuses a login posted from another site's page.
var errCrossSite = errors.New("a login must come from this endpoint's own page")

// sameOrigin reports whether r was sent by a page of the endpoint itself,
// or typed into the address bar: by Sec-Fetch-Site where the browser
// sends it, by Origin otherwise (which every browser sends with a POST
// from a page). A client without either (curl) is let through: it is no
// browser that another site could drive.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// dashRole returns the role of r's credentials for a dashboard route: a
// session cookie counts as RoleRead, as do the endpoint's own
// credentials.
func (h *handler) dashRole(r *http.Request) (Role, string, error) {
	if c, err := r.Cookie(cookieName(r)); err == nil && h.auth.required && h.sessions.valid(c.Value, h.now()) {
		return RoleRead, "", nil
	}
	return h.auth.role(r)
}

// login trades a token posted in a form for a session cookie, and sends
// the browser to the dashboard.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	dashHeaders(w)
	if !sameOrigin(r) {
		h.loginPage(w, http.StatusForbidden, errCrossSite.Error())
		return
	}
	if !h.auth.required {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.loginPage(w, http.StatusBadRequest, "the form did not decode")
		return
	}
	exp := h.now().Add(sessionTTL)
	value, ok := h.sessions.issue(h.auth, strings.TrimSpace(r.PostForm.Get("token")), exp)
	if !ok {
		w.Header().Set("WWW-Authenticate", challengeBad)
		h.loginPage(w, http.StatusUnauthorized, errBadToken.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: value, Path: "/dashboard", Expires: exp, MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}
