package mesh

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/meshrun/mesh/admin"
)

// startAdmin serves the admin endpoint (package admin) on
// Config.AdminAddr, if set.
func (n *Node) startAdmin() error {
	if n.cfg.AdminAddr == "" {
		return nil
	}
	opts := n.cfg.adminOptions()
	opts.Logger = n.logger.With("component", "admin")
	s, err := admin.Listen(n.cfg.AdminAddr, adminView{n}, opts)
	if err != nil {
		return fmt.Errorf("mesh: admin endpoint: %w", err)
	}
	n.admin.Store(s)
	n.logger.Info("admin endpoint listening", "addr", s.Addr(), "tls", n.cfg.AdminTLS != nil,
		"tokens", len(n.cfg.AdminTokens))
	if host, _, _ := net.SplitHostPort(s.Addr()); !n.cfg.adminAuthenticates() && !net.ParseIP(host).IsLoopback() {
		n.logger.Warn("admin endpoint has no authentication and listens beyond loopback: set AdminTokens",
			"addr", s.Addr(), "calls", n.cfg.AdminCalls)
	}
	return nil
}

// adminOptions are the options of the node's admin endpoint, its logger
// aside.
func (c Config) adminOptions() admin.Options {
	return admin.Options{Calls: c.AdminCalls, Tokens: c.AdminTokens, TLS: c.AdminTLS, MaxCallTimeout: c.CallTimeout}
}

// adminAuthenticates reports whether the admin endpoint needs
// credentials: tokens, or client certificates it verifies.
func (c Config) adminAuthenticates() bool {
	return len(c.AdminTokens) > 0 ||
		c.AdminTLS != nil && (c.AdminTLS.ClientAuth == tls.VerifyClientCertIfGiven || c.AdminTLS.ClientAuth == tls.RequireAndVerifyClientCert)
}

// stopAdmin stops the admin endpoint, letting requests in progress finish
// within ctx or a second, whichever ends first.
func (n *Node) stopAdmin(ctx context.Context) {
	s := n.admin.Load()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

// AdminAddr returns the address the admin endpoint listens on, or "" if
// the node has none (Config.AdminAddr is empty).
func (n *Node) AdminAddr() string {
	if s := n.admin.Load(); s != nil {
		return s.Addr()
	}
	return ""
}
