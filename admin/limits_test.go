package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestCallContentType: POST /v1/call takes only a body sent as
// application/json, which a browser never sends to another site without
// asking it first; the node is not called otherwise.
func TestCallContentType(t *testing.T) {
	for _, tt := range []struct {
		contentType string
		status      int
	}{
		{"", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"application/jsonx", http.StatusUnsupportedMediaType},
		{"application/json/x", http.StatusUnsupportedMediaType}, // not a media type
		{"application/json", http.StatusOK},
		{"application/json; charset=utf-8", http.StatusOK},
		{"Application/JSON", http.StatusOK},
	} {
		f := sampleNode()
		f.reply = wrapperspb.String("x")
		r := newRequest("POST", "/v1/call", callBody)
		r.Header.Del("Content-Type")
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		w := serveWith(t, f, Options{Calls: true}, r)
		if w.Code != tt.status {
			t.Errorf("Content-Type %q: %d %s; want %d", tt.contentType, w.Code, w.Body, tt.status)
		}
		if tt.status != http.StatusOK {
			if want := "{\n  \"error\": " + quote(errNotJSON.Error()) + "\n}\n"; w.Body.String() != want || len(f.calls) != 0 {
				t.Errorf("Content-Type %q: %s, %d calls; want %s and none", tt.contentType, w.Body, len(f.calls), want)
			}
		}
	}
}

// TestCallTimeoutBound: a call may ask for a timeout up to the handler's
// MaxCallTimeout (5 s unless set), not longer.
func TestCallTimeoutBound(t *testing.T) {
	body := func(timeout string) string {
		return `{"capability":"echo","id":"a","type":"google.protobuf.StringValue","payload":"x","timeout":"` + timeout + `"}`
	}
	for _, tt := range []struct {
		max     time.Duration
		timeout string
		status  int
	}{
		{0, "5s", http.StatusOK},
		{0, "5001ms", http.StatusBadRequest},
		{0, "1h", http.StatusBadRequest},
		{time.Minute, "1m", http.StatusOK},
		{time.Minute, "61s", http.StatusBadRequest},
		{time.Second, "2s", http.StatusBadRequest},
	} {
		f := sampleNode()
		f.reply = wrapperspb.String("x")
		w := serveWith(t, f, Options{Calls: true, MaxCallTimeout: tt.max}, newRequest("POST", "/v1/call", body(tt.timeout)))
		if w.Code != tt.status || len(f.calls) != map[bool]int{true: 1}[tt.status == http.StatusOK] {
			t.Errorf("MaxCallTimeout %v, timeout %s: %d %s, %d calls; want %d", tt.max, tt.timeout, w.Code, w.Body, len(f.calls), tt.status)
		}
		if tt.status == http.StatusBadRequest {
			want := tt.max
			if want == 0 {
				want = 5 * time.Second
			}
			if !strings.Contains(w.Body.String(), "want at most "+want.String()+", the node's CallTimeout") {
				t.Errorf("timeout %s: %s; want an error naming %s", tt.timeout, w.Body, want)
			}
		}
	}
	if _, err := NewHandler(sampleNode(), Options{MaxCallTimeout: -time.Second}); err == nil {
		t.Error("NewHandler with a negative MaxCallTimeout: no error")
	}
}

// TestInFlight: past maxInFlight guarded requests in progress, one more
// answers 503 with Retry-After, while the probes still answer and a
// request without credentials is still told 401; once they end, requests
// are served again.
func TestInFlight(t *testing.T) {
	f := sampleNode()
	f.reg = prometheus.NewRegistry()
	f.statusGate, f.statusIn = make(chan struct{}), make(chan struct{}, maxInFlight)
	h := newHandler(f, Options{Tokens: testTokens}).routes()
	do := func(target, auth string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, authRequest("GET", target, auth))
		return w
	}
	read := "Bearer " + readSecret
	var wg sync.WaitGroup
	codes := make(chan int, maxInFlight)
	for range maxInFlight {
		wg.Go(func() { codes <- do("/v1/status", read).Code })
	}
	for range maxInFlight {
		<-f.statusIn
	}
	if w := do("/v1/members", read); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		w.Body.String() != "{\n  \"error\": "+quote(errBusy.Error())+"\n}\n" {
		t.Errorf("request %d: %d %q %s; want 503 with Retry-After", maxInFlight+1, w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	for _, target := range []string{"/healthz", "/readyz"} {
		if w := do(target, ""); w.Code != http.StatusOK {
			t.Errorf("%s while full: %d", target, w.Code)
		}
	}
	if w := do("/v1/members", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("no token while full: %d, want 401", w.Code)
	}
	close(f.statusGate)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a held request answered %d", c)
		}
	}
	if w := do("/v1/members?ping=false", read); w.Code != http.StatusOK {
		t.Errorf("after the held requests: %d", w.Code)
	}
}

// TestServerBounds: Listen's server bounds how long a client may take to
// send a request and to read its answer, the latter past the longest
// ping and call the handler allows; idle connections and headers are
// bounded too.
func TestServerBounds(t *testing.T) {
	for _, maxCall := range []time.Duration{0, 2 * time.Minute} {
		s, err := Listen("127.0.0.1:0", sampleNode(), Options{MaxCallTimeout: maxCall})
		if err != nil {
			t.Fatal(err)
		}
		srv := s.srv
		s.Shutdown(context.Background())
		longest := max(MaxPingTimeout, maxCall)
		if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 ||
			srv.WriteTimeout <= longest || srv.MaxHeaderBytes > 1<<20 {
			t.Errorf("MaxCallTimeout %v: read header %v, read %v, write %v, idle %v, headers %d bytes; want all set, write over %v",
				maxCall, srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes, longest)
		}
	}
}
