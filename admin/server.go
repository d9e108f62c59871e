package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// readHeaderTimeout bounds how long a client may take to send a request's
// headers.
const readHeaderTimeout = 10 * time.Second

// Server serves the endpoint on a TCP address.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{} // closed when Serve has returned
}

// Listen serves the endpoint over n on addr (host:port; port 0 picks a
// free one) until Shutdown. It fails with an error wrapping
// ErrInvalidOptions for options NewHandler refuses, and with
// net.Listen's error if addr cannot be listened on.
func Listen(addr string, n Node, opts Options) (*Server, error) {
	handler, err := NewHandler(n, opts)
	if err != nil {
		return nil, err
	}
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
			Handler:           handler,
			ReadHeaderTimeout: readHeaderTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("admin endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// Shutdown stops the server: it stops accepting connections, lets the
// requests in progress finish until ctx ends, then closes their
// connections. It returns once the server has stopped.
func (s *Server) Shutdown(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}
