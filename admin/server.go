package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Bounds of the server on its clients.
const (
	// readHeaderTimeout bounds how long a client may take to send a
	// request's headers, readTimeout the whole request (the body of a
	// call is at most 1 MiB).
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	// writeSlack is how much longer than its longest ping or call a
	// request may take to be answered (Options.maxWrite).
	writeSlack = 10 * time.Second
	// idleTimeout bounds how long a connection is kept between requests.
	idleTimeout = 60 * time.Second
	// maxHeaderBytes bounds a request's headers.
	maxHeaderBytes = 64 << 10
)

// Server serves the endpoint on a TCP address.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{} // closed when Serve has returned
	// dash is the dashboard's state, refreshed by a goroutine that
	// dashDone sees end.
	dash     *dashboard
	dashDone chan struct{}
}

// Listen serves the endpoint over n on addr (host:port; port 0 picks a
// free one) until Shutdown, over HTTPS if opts.TLS is set. Its server
// bounds how long a client may take to send a request (10 s for the
// headers, 30 s in all), how long a request may take to answer (the
// longest ping or call it allows, plus 10 s), how long an idle
// connection is kept (60 s) and the size of a request's headers (64
// KiB). It fails with opts.Validate's error, and with net.Listen's error
// if addr cannot be listened on.
func Listen(addr string, n Node, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	h := newHandler(n, opts)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           h.routes(),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      opts.maxWrite() + writeSlack,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
		dash: h.dash, dashDone: make(chan struct{}),
	}
	serve := func() error { return s.srv.Serve(ln) }
	if opts.TLS != nil {
		// A copy: http.Server adds "h2" to the NextProtos of its
		// TLSConfig, which the caller may share with clients or other
		// servers.
		s.srv.TLSConfig = opts.TLS.Clone()
		serve = func() error { return s.srv.ServeTLS(ln, "", "") }
	}
	go func() {
		defer close(s.dashDone)
		s.dash.run()
	}()
	go func() {
		defer close(s.done)
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("admin endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// Shutdown stops the server: it stops accepting connections, lets the
// requests in progress finish until ctx ends, then closes their
// connections. Live dashboards end at once. It returns once the server
// has stopped.
func (s *Server) Shutdown(ctx context.Context) {
	s.dash.close()
	<-s.dashDone
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}
