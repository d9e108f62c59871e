package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// t0 is the fake clock's first reading.
var t0 = time.Date(2026, 11, 23, 7, 28, 10, 0, time.UTC)

// fakeNode is a Node that answers what its fields say and records the
// calls made to it.
type fakeNode struct {
	name           string
	routingVersion uint64
	members        []MemberInfo
	activations    []ActivationInfo
	placement      Placement
	locateErr      error
	status         ClusterStatus
	pongs          []PingResult // by PingAll; Ping answers the one of its name
	pingErr        error        // answered by Ping instead, if set
	reply          proto.Message
	outcome        string
	callErr        error
	readyErr       error
	reg            *prometheus.Registry
	rings          []RingInfo
	// statusGate, if set, holds every Status until it is closed, and
	// statusIn counts the Status calls it holds.
	statusGate chan struct{}
	statusIn   chan struct{}

	// stream, if set, is what Events returns; streamErr instead, if set.
	stream    *fakeStream
	streamErr error

	mu         sync.Mutex
	pingAlls   int
	pingCtxTTL time.Duration // time left on the ctx of the last ping
	calls      []fakeCall
}

type fakeCall struct {
	capability, id string
	payload        proto.Message
	deadline       bool
}

var _ Node = (*fakeNode)(nil)

func (f *fakeNode) Name() string                  { return f.name }
func (f *fakeNode) RoutingVersion() uint64        { return f.routingVersion }
func (f *fakeNode) Members() []MemberInfo         { return f.members }
func (f *fakeNode) Activations() []ActivationInfo { return f.activations }
func (f *fakeNode) Ready() error                  { return f.readyErr }
func (f *fakeNode) Rings() []RingInfo             { return f.rings }

// Metrics returns f.reg, or an empty registry if it is nil.
func (f *fakeNode) Metrics() prometheus.Gatherer {
	if f.reg == nil {
		return prometheus.NewRegistry()
	}
	return f.reg
}

func (f *fakeNode) Locate(capability, id string) (Placement, error) {
	if f.locateErr != nil {
		return Placement{}, f.locateErr
	}
	p := f.placement
	p.Capability, p.ID = capability, id
	return p, nil
}

func (f *fakeNode) Status(context.Context) ClusterStatus {
	if f.statusGate != nil {
		f.statusIn <- struct{}{}
		<-f.statusGate
	}
	return f.status
}

func (f *fakeNode) sawPing(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		f.pingCtxTTL = time.Until(d)
	}
}

func (f *fakeNode) Ping(ctx context.Context, member string) (PingResult, error) {
	f.sawPing(ctx)
	if f.pingErr != nil {
		return PingResult{}, f.pingErr
	}
	for _, p := range f.pongs {
		if p.Node == member {
			return p, p.Err
		}
	}
	return PingResult{}, Mark(errNoSuchMember, ErrNotFound)
}

func (f *fakeNode) PingAll(ctx context.Context) []PingResult {
	f.sawPing(ctx)
	f.mu.Lock()
	f.pingAlls++
	f.mu.Unlock()
	return f.pongs
}

func (f *fakeNode) Call(ctx context.Context, capability, id string, payload proto.Message) (proto.Message, string, error) {
	_, deadline := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{capability, id, payload, deadline})
	f.mu.Unlock()
	return f.reply, f.outcome, f.callErr
}

func (f *fakeNode) Events(ctx context.Context, buf int) (EventStream, error) {
	if f.streamErr != nil {
		return nil, f.streamErr
	}
	return f.stream, nil
}

// fakeStream is an EventStream whose events a test sends on c; closing c
// ends it with err.
type fakeStream struct {
	c      chan EventInfo
	err    error
	closed chan struct{}
	once   sync.Once
}

func newFakeStream() *fakeStream {
	return &fakeStream{c: make(chan EventInfo), closed: make(chan struct{})}
}

func (s *fakeStream) C() <-chan EventInfo { return s.c }
func (s *fakeStream) Err() error          { return s.err }
func (s *fakeStream) Close()              { s.once.Do(func() { close(s.closed) }) }

// errNoSuchMember is the fake's error for a ping of a stranger.
var errNoSuchMember = errors.New(`mesh: no such member: "nope"`)

// serve sends the request to a handler over f, with Options.Calls set to
// calls, and returns the answer (see serveWith).
func serve(t testing.TB, f *fakeNode, calls bool, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	return serveWith(t, f, Options{Calls: calls}, newRequest(method, target, body))
}

// serveWith sends r to a handler over f with opts whose clock starts at t0
// and advances by 1.5 ms at each reading, and returns the answer.
func serveWith(t testing.TB, f *fakeNode, opts Options, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	if f.reg == nil {
		f.reg = prometheus.NewRegistry()
	}
	h := newHandler(f, opts)
	now := t0
	h.now = func() time.Time {
		defer func() { now = now.Add(1500 * time.Microsecond) }()
		return now
	}
	w := httptest.NewRecorder()
	h.routes().ServeHTTP(w, r)
	return w
}

// newRequest is a request to the handler, with a body unless body is
// empty, and for a POST the Content-Type of JSON.
func newRequest(method, target, body string) *http.Request {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
