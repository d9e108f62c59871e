package mesh

// WithGossipCut makes the node's gossip drop packets to, and refuse dials
// of, the gossip addresses cut reports: a network fault for tests.
func WithGossipCut(c *Config, cut func(addr string) bool) { c.cut = cut }
