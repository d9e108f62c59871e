package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// MinTokenLen is the shortest Token.Secret the endpoint accepts, in bytes.
const MinTokenLen = 16

// Role is what a Token lets its bearer do. The zero Role is RoleRead.
type Role uint8

const (
	// RoleRead may GET every route: the views, /metrics and the index.
	RoleRead Role = iota
	// RoleOperator may also POST /v1/call (with Options.Calls).
	RoleOperator
)

// String returns "read" or "operator".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleOperator:
		return "operator"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// allows reports whether r may do what need may.
func (r Role) allows(need Role) bool { return need == RoleRead || r == RoleOperator }

// Token is a bearer token the endpoint accepts, and the role it grants.
// Its String, GoString, LogValue and MarshalJSON methods write
// "<redacted>" for the secret, so a Token, or an Options or a
// configuration holding one, printed with fmt, logged with slog or
// written as JSON does not disclose it (and what was written cannot be
// read back as a valid token).
type Token struct {
	// Secret is what a client sends as "Authorization: Bearer SECRET": at
	// least MinTokenLen bytes of letters, digits and - . _ ~ + / = (the
	// token68 characters of RFC 6750), such as the output of
	// `openssl rand -base64 32`.
	Secret string
	// Role is what the token grants. If zero, RoleRead.
	Role Role
}

// String describes the token without its secret.
func (t Token) String() string {
	return "admin.Token{Role: " + t.Role.String() + ", Secret: <redacted>}"
}

// GoString describes the token without its secret, for %#v.
func (t Token) GoString() string { return t.String() }

// LogValue logs the token's role, not its secret.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("role", t.Role.String()), slog.String("secret", "<redacted>"))
}

// MarshalJSON writes the token's role, not its secret.
func (t Token) MarshalJSON() ([]byte, error) {
	return []byte(`{"Role":"` + t.Role.String() + `","Secret":"<redacted>"}`), nil
}

// validateTokens reports the first token that the endpoint refuses: a
// secret shorter than MinTokenLen or with a character that cannot travel
// in a bearer token, an unknown role, or a secret given twice. Its
// errors wrap ErrInvalidOptions and never contain a secret.
func validateTokens(tokens []Token) error {
	seen := make(map[[sha256.Size]byte]int, len(tokens))
	for i, t := range tokens {
		if len(t.Secret) < MinTokenLen {
			return fmt.Errorf("%w: Tokens[%d] is %d bytes, want at least %d", ErrInvalidOptions, i, len(t.Secret), MinTokenLen)
		}
		if j := strings.IndexFunc(t.Secret, func(c rune) bool { return !isToken68(c) }); j >= 0 {
			return fmt.Errorf("%w: Tokens[%d] has a character at byte %d that a bearer token cannot carry (want letters, digits and -._~+/=)",
				ErrInvalidOptions, i, j)
		}
		if t.Role != RoleRead && t.Role != RoleOperator {
			return fmt.Errorf("%w: Tokens[%d] has an unknown role %v", ErrInvalidOptions, i, t.Role)
		}
		d := sha256.Sum256([]byte(t.Secret))
		if j, ok := seen[d]; ok {
			return fmt.Errorf("%w: Tokens[%d] and Tokens[%d] have the same secret", ErrInvalidOptions, j, i)
		}
		seen[d] = i
	}
	return nil
}

// isToken68 reports whether c may appear in a bearer token (RFC 6750's
// b64token).
func isToken68(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~+/=", c)
}

// verifiesClients reports whether c verifies the client certificates it
// is given (against c.ClientCAs), so that one it accepted can be trusted.
func verifiesClients(c *tls.Config) bool {
	return c != nil && (c.ClientAuth == tls.VerifyClientCertIfGiven || c.ClientAuth == tls.RequireAndVerifyClientCert)
}

// validateTLS reports what keeps c from serving HTTPS, or from trusting
// only the client certificates its owner meant.
func validateTLS(c *tls.Config) error {
	if c == nil {
		return nil
	}
	if len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return fmt.Errorf("%w: TLS has no certificate (Certificates, GetCertificate or GetConfigForClient)", ErrInvalidOptions)
	}
	if verifiesClients(c) && c.ClientCAs == nil {
		// crypto/tls would verify client certificates against the
		// system's CAs: any certificate a public CA signs would be an
		// operator.
		return fmt.Errorf("%w: TLS verifies client certificates but has no ClientCAs: the system's CAs would vouch for operators",
			ErrInvalidOptions)
	}
	return nil
}

// Errors of authentication, in the Error of a 401 or 403 answer.
var (
	errNoToken  = errors.New("this endpoint needs a bearer token: send Authorization: Bearer TOKEN")
	errNoCreds  = errors.New("this endpoint needs a verified client certificate or a bearer token: send Authorization: Bearer TOKEN")
	errBadToken = errors.New("the bearer token is not one this endpoint accepts")
	errNeedsOp  = errors.New("the token's role is read: this route needs the operator role")
)

// errBusy answers a request beyond maxInFlight.
var errBusy = fmt.Errorf("too many admin requests in progress (%d): try again", maxInFlight)

// The WWW-Authenticate challenges of RFC 6750.
const (
	challengeNone   = `Bearer realm="mesh"`
	challengeBad    = `Bearer realm="mesh", error="invalid_token"`
	challengeNeedOp = `Bearer realm="mesh", error="insufficient_scope"`
)

// authenticator finds the role of a request's credentials.
type authenticator struct {
	// required is false when neither tokens nor client certificates are
	// configured: every request then has RoleOperator, as the endpoint
	// had before it had authentication.
	required bool
	// certs lets a verified client certificate grant RoleOperator.
	certs bool
	// digests are the SHA-256 of the tokens' secrets, roles their roles.
	digests [][sha256.Size]byte
	roles   []Role
	// compare is subtle.ConstantTimeCompare; a test counts its calls.
	compare func(a, b []byte) int
}

func newAuthenticator(tokens []Token, tlsConfig *tls.Config) *authenticator {
	certs := verifiesClients(tlsConfig)
	a := &authenticator{required: certs || len(tokens) > 0, certs: certs, compare: subtle.ConstantTimeCompare}
	for _, t := range tokens {
		a.digests = append(a.digests, sha256.Sum256([]byte(t.Secret)))
		a.roles = append(a.roles, t.Role)
	}
	return a
}

// role returns the role of r's credentials, or an error saying why they
// are missing or refused, with the challenge to answer it with.
func (a *authenticator) role(r *http.Request) (Role, string, error) {
	if !a.required {
		return RoleOperator, "", nil
	}
	// VerifiedChains is set only when crypto/tls verified the
	// certificate against ClientCAs, not for RequestClientCert or
	// RequireAnyClientCert.
	if a.certs && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return RoleOperator, "", nil
	}
	secret, ok := bearer(r.Header.Get("Authorization"))
	switch {
	case !ok && a.certs:
		return 0, challengeNone, errNoCreds
	case !ok:
		return 0, challengeNone, errNoToken
	}
	role, ok := a.lookup(secret)
	if !ok {
		return 0, challengeBad, errBadToken
	}
	return role, "", nil
}

// lookup returns the role of the token whose secret is secret. It takes
// the same time whichever token matches, if any: it compares SHA-256
// digests, which have one length whatever the secrets' lengths, in
// constant time, with every token.
func (a *authenticator) lookup(secret string) (Role, bool) {
	d := sha256.Sum256([]byte(secret))
	found := -1
	for i := range a.digests {
		found = subtle.ConstantTimeSelect(a.compare(d[:], a.digests[i][:]), i, found)
	}
	if found < 0 {
		return 0, false
	}
	return a.roles[found], true
}

// bearer returns the token of an Authorization header of the Bearer
// scheme (case-insensitive), if h is one.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// guard serves next to requests whose credentials have the role need,
// while fewer than maxInFlight guarded requests are in progress: 401
// without valid credentials, 403 without the role, 503 when too many
// requests are in progress. Refused credentials take no place among them.
func (h *handler) guard(need Role, next http.Handler) http.Handler {
	return h.guardIn(need, h.inFlight, errBusy, next)
}

// guardIn is guard counting the requests in progress in slots, and
// answering busy when it is full.
func (h *handler) guardIn(need Role, slots chan struct{}, busy error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, challenge, err := h.auth.role(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", challenge)
			writeError(w, http.StatusUnauthorized, err)
			return
		}
		if !role.allows(need) {
			w.Header().Set("WWW-Authenticate", challengeNeedOp)
			writeError(w, http.StatusForbidden, errNeedsOp)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, busy)
			return
		}
		next.ServeHTTP(w, r)
	})
}
