package admin

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Secrets of the tests' tokens.
const (
	readSecret     = "read-token-0123456789"
	operatorSecret = "operator-token-0123456789"
)

var testTokens = []Token{{Secret: readSecret, Role: RoleRead}, {Secret: operatorSecret, Role: RoleOperator}}

// callBody is a valid POST /v1/call body.
const callBody = `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x"}`

// guarded are the routes that need credentials when tokens are set, and
// the role each needs.
var guarded = []struct {
	method, target string
	need           Role
}{
	{"GET", "/", RoleRead},
	{"GET", "/v1/members", RoleRead},
	{"GET", "/v1/activations", RoleRead},
	{"GET", "/v1/owner?capability=room&id=general", RoleRead},
	{"GET", "/v1/status", RoleRead},
	{"GET", "/v1/ping", RoleRead},
	{"GET", "/metrics", RoleRead},
	{"POST", "/v1/call", RoleOperator},
}

// authRequest is a request for target with the Authorization header auth,
// unless it is empty.
func authRequest(method, target, auth string) *http.Request {
	body := ""
	if method == http.MethodPost {
		body = callBody
	}
	r := newRequest(method, target, body)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

// TestAuthOff: without tokens the endpoint is open, as it was before it
// had authentication: every route answers without credentials, calls
// included (with Options.Calls), and no challenge is sent.
func TestAuthOff(t *testing.T) {
	for _, r := range guarded {
		f := sampleNode()
		f.reply = wrapperspb.String("x")
		w := serveWith(t, f, Options{Calls: true}, authRequest(r.method, r.target, ""))
		if w.Code != http.StatusOK || w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("%s %s without tokens: %d %q\n%s; want 200 and no challenge", r.method, r.target, w.Code,
				w.Header().Get("WWW-Authenticate"), w.Body)
		}
	}
}

// TestAuth: with tokens, every route but the probes answers 401 and a
// challenge to a request without a valid token, and POST /v1/call 403 to
// a read token; a refused request does not reach the node.
func TestAuth(t *testing.T) {
	creds := []struct {
		name, header string
		valid        bool
		operator     bool
		challenge    string
	}{
		{"no token", "", false, false, challengeNone},
		{"wrong token", "Bearer not-a-token-of-this-node", false, false, challengeBad},
		{"a prefix of a token", "Bearer " + operatorSecret[:MinTokenLen], false, false, challengeBad},
		{"a token with more at its end", "Bearer " + operatorSecret + "x", false, false, challengeBad},
		{"basic scheme", "Basic " + operatorSecret, false, false, challengeNone},
		{"empty bearer", "Bearer ", false, false, challengeNone},
		{"read token", "Bearer " + readSecret, true, false, ""},
		{"operator token", "Bearer " + operatorSecret, true, true, ""},
		{"scheme in lower case", "bearer " + operatorSecret, true, true, ""},
	}
	for _, c := range creds {
		for _, r := range guarded {
			f := sampleNode()
			f.reply = wrapperspb.String("x")
			w := serveWith(t, f, Options{Calls: true, Tokens: testTokens}, authRequest(r.method, r.target, c.header))
			want, challenge := http.StatusOK, ""
			switch {
			case !c.valid:
				want, challenge = http.StatusUnauthorized, c.challenge
			case r.need == RoleOperator && !c.operator:
				want, challenge = http.StatusForbidden, challengeNeedOp
			}
			if w.Code != want || w.Header().Get("WWW-Authenticate") != challenge {
				t.Errorf("%s: %s %s: %d, challenge %q; want %d, %q\n%s", c.name, r.method, r.target, w.Code,
					w.Header().Get("WWW-Authenticate"), want, challenge, w.Body)
			}
			if want == http.StatusOK {
				continue
			}
			if !strings.HasPrefix(w.Body.String(), "{\n  \"error\": \"") || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s: %s %s answered %s; want an Error", c.name, r.method, r.target, w.Body)
			}
			if len(f.calls) != 0 || f.pingAlls != 0 || f.pingCtxTTL != 0 {
				t.Errorf("%s: %s %s reached the node: %d calls, %d pings", c.name, r.method, r.target, len(f.calls), f.pingAlls)
			}
		}
	}
}

// TestAuthMessages: the Error of a refused request says what to send.
func TestAuthMessages(t *testing.T) {
	for _, tt := range []struct{ method, target, auth, want string }{
		{"GET", "/v1/status", "", errNoToken.Error()},
		{"GET", "/v1/status", "Bearer wrong-wrong-wrong-wrong", errBadToken.Error()},
		{"POST", "/v1/call", "Bearer " + readSecret, errNeedsOp.Error()},
	} {
		w := serveWith(t, sampleNode(), Options{Calls: true, Tokens: testTokens}, authRequest(tt.method, tt.target, tt.auth))
		if want := "{\n  \"error\": " + quote(tt.want) + "\n}\n"; w.Body.String() != want {
			t.Errorf("%s %s with %q: %s; want %s", tt.method, tt.target, tt.auth, w.Body, want)
		}
	}
}

// TestProbesOpen: /healthz and /readyz answer without credentials when
// tokens are set, and ignore a wrong token: orchestrators send none.
func TestProbesOpen(t *testing.T) {
	for _, target := range []string{"/healthz", "/readyz"} {
		for _, auth := range []string{"", "Bearer wrong-wrong-wrong-wrong"} {
			w := serveWith(t, sampleNode(), Options{Tokens: testTokens}, authRequest("GET", target, auth))
			if w.Code != http.StatusOK {
				t.Errorf("GET %s with %q: %d %s; want 200", target, auth, w.Code, w.Body)
			}
		}
	}
	f := sampleNode()
	f.readyErr = errors.New("draining: the node is leaving")
	if w := serveWith(t, f, Options{Tokens: testTokens}, authRequest("GET", "/readyz", "")); w.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz of a draining node without a token: %d, want 503", w.Code)
	}
}

// TestCallsOffWithOperator: an operator token does not turn calls on:
// Options.Calls still decides.
func TestCallsOffWithOperator(t *testing.T) {
	f := sampleNode()
	w := serveWith(t, f, Options{Tokens: testTokens}, authRequest("POST", "/v1/call", "Bearer "+operatorSecret))
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Config.AdminCalls") || len(f.calls) != 0 {
		t.Errorf("call with an operator token, calls off: %d %s, %d calls; want 403 naming Config.AdminCalls", w.Code, w.Body, len(f.calls))
	}
}

// TestTokenLookup: a secret is looked up with crypto/subtle's constant-
// time compare, over SHA-256 digests (one length whatever the secret's),
// with every token whether or not one matches, so that how long the
// lookup takes says nothing of which token matched or how close a guess
// came.
func TestTokenLookup(t *testing.T) {
	tokens := []Token{
		{Secret: "first-token-0123456789"}, {Secret: "second-token-0123456789", Role: RoleOperator},
		{Secret: "third-token-0123456789"},
	}
	a := newAuthenticator(tokens, nil)
	if reflect.ValueOf(a.compare).Pointer() != reflect.ValueOf(subtle.ConstantTimeCompare).Pointer() {
		t.Fatal("the authenticator does not compare with subtle.ConstantTimeCompare")
	}
	var lengths []int
	a.compare = func(x, y []byte) int {
		lengths = append(lengths, len(x), len(y))
		return subtle.ConstantTimeCompare(x, y)
	}
	for _, tt := range []struct {
		secret string
		role   Role
		ok     bool
	}{
		{"first-token-0123456789", RoleRead, true},
		{"second-token-0123456789", RoleOperator, true},
		{"third-token-0123456789", RoleRead, true},
		{"x", 0, false},
		{"second-token-012345678", 0, false},
		{strings.Repeat("long", 100), 0, false},
	} {
		lengths = nil
		role, ok := a.lookup(tt.secret)
		if role != tt.role || ok != tt.ok {
			t.Errorf("lookup(%q): %v %v, want %v %v", tt.secret, role, ok, tt.role, tt.ok)
		}
		if len(lengths) != 2*len(tokens) {
			t.Errorf("lookup(%q) compared with %d tokens, want all %d", tt.secret, len(lengths)/2, len(tokens))
		}
		for _, n := range lengths {
			if n != 32 {
				t.Errorf("lookup(%q) compared %d bytes, want the 32 of a SHA-256 digest", tt.secret, n)
				break
			}
		}
	}
}

// TestValidateTokens: secrets too short to resist guessing, with
// characters no bearer token carries, with an unknown role, or given
// twice are refused, with an error that names the token by its index and
// never shows a secret.
func TestValidateTokens(t *testing.T) {
	ok := strings.Repeat("a", MinTokenLen)
	for _, tt := range []struct {
		name   string
		tokens []Token
		want   string // "" for valid
	}{
		{"none", nil, ""},
		{"shortest", []Token{{Secret: ok}}, ""},
		{"base64 of 32 bytes", []Token{{Secret: "k3J0ZnVuZGFtZW50YWxseS1yYW5kb20tYnl0ZXMhIQ==", Role: RoleOperator}}, ""},
		{"both roles", testTokens, ""},
		{"empty", []Token{{Secret: ""}}, "Tokens[0] is 0 bytes, want at least 16"},
		{"one byte short", []Token{{Secret: ok}, {Secret: ok[1:]}}, "Tokens[1] is 15 bytes, want at least 16"},
		{"a space", []Token{{Secret: ok + " b"}}, "Tokens[0] has a character at byte 16"},
		{"a newline", []Token{{Secret: ok + "\nb"}}, "Tokens[0] has a character at byte 16"},
		{"not ASCII", []Token{{Secret: ok + "é"}}, "Tokens[0] has a character at byte 16"},
		{"unknown role", []Token{{Secret: ok, Role: 7}}, "Tokens[0] has an unknown role Role(7)"},
		{"twice", []Token{{Secret: ok}, {Secret: readSecret}, {Secret: ok, Role: RoleOperator}}, "Tokens[0] and Tokens[2] have the same secret"},
	} {
		err := Options{Tokens: tt.tokens}.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(fmt.Sprint(err), tt.want) {
			t.Errorf("%s: %v; want ErrInvalidOptions: ...%s", tt.name, err, tt.want)
		}
		for _, tok := range tt.tokens {
			if len(tok.Secret) >= 4 && strings.Contains(fmt.Sprint(err), tok.Secret) {
				t.Errorf("%s: the error shows a secret: %v", tt.name, err)
			}
		}
		if _, err := NewHandler(sampleNode(), Options{Tokens: tt.tokens}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: NewHandler: %v; want ErrInvalidOptions", tt.name, err)
		}
	}
}

// TestTokenRedacted: a Token, or Options holding one, printed with fmt or
// logged with slog, does not show its secret.
func TestTokenRedacted(t *testing.T) {
	opts := Options{Calls: true, Tokens: testTokens}
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	logger.Info("start", "token", testTokens[1], "opts", opts)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("start", "token", testTokens[1], "tokens", testTokens)
	for _, s := range []string{
		fmt.Sprint(testTokens[1]), fmt.Sprintf("%+v", testTokens[1]), fmt.Sprintf("%#v", testTokens[1]),
		fmt.Sprintf("%v", opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts), logged.String(),
	} {
		if strings.Contains(s, readSecret) || strings.Contains(s, operatorSecret) {
			t.Errorf("a secret shows in %s", s)
		}
		if !strings.Contains(s, "operator") {
			t.Errorf("the role does not show in %s", s)
		}
	}
}
