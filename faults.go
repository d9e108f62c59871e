package mesh

import "github.com/meshrun/mesh/internal/faults"

func init() {
	faults.Register(func(c any, gossip, transport func(string) bool) {
		cfg := c.(*Config)
		cfg.cut, cfg.transportCut = gossip, transport
	})
}
