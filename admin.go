package mesh

import (
	"context"
	"fmt"
	"time"

	"github.com/meshrun/mesh/admin"
)

// startAdmin serves the admin endpoint (package admin) on
// Config.AdminAddr, if set.
func (n *Node) startAdmin() error {
	if n.cfg.AdminAddr == "" {
		return nil
	}
	s, err := admin.Listen(n.cfg.AdminAddr, adminView{n}, admin.Options{
		Calls:  n.cfg.AdminCalls,
		Logger: n.logger.With("component", "admin"),
	})
	if err != nil {
		return fmt.Errorf("mesh: admin endpoint: %w", err)
	}
	n.admin.Store(s)
	n.logger.Info("admin endpoint listening", "addr", s.Addr())
	return nil
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
