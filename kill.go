package mesh

import (
	"context"

	"github.com/meshrun/mesh/internal/crash"
)

func init() { crash.Register(func(n any) { n.(*Node).kill() }) }

// kill stops n as kill -9 would stop its process, for fault tests
// (meshtest's Cluster.Kill): no drain, no handoff, no leave broadcast, no
// Stop of a process and no save to the store. The peers find out by
// failure detection, and what the node's processes held is lost unless a
// store has it from an earlier save. Unlike a killed process, every
// goroutine the node started still ends before kill returns, but for a
// handoff that outlives a second. Calls made on n after kill fail with
// ErrClosed; a later Close does nothing and returns nil.
func (n *Node) kill() {
	n.closeOnce.Do(func() {
		n.closing.Store(true)
		if err := n.members.Crash(); err != nil {
			n.logger.Debug("gossip stopped hard", "err", err)
		}
		ended, end := context.WithCancel(context.Background())
		end()
		n.stopQuorumGrace()
		n.endHandoffs()
		n.stopTransport(ended)
		n.stopAdmin(ended)
		defaultNode.CompareAndSwap(n, nil)
		n.logger.Info("node killed")
	})
}
