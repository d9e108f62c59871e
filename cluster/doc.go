// Package cluster is how mesh nodes find and talk to each other: memberlist
// gossip membership with each node's metadata (remote address,
// capabilities, labels, incarnation, draining flag), a periodic re-join
// of seeds, seeds discovered at run time (Discovery; DNS looks up SRV or
// A and AAAA records, such as a Kubernetes headless service's), and the
// gossip keyring and cluster label. What nodes send each other is in
// internal/wire.
//
// # Usage
//
//	m, err := cluster.Join(ctx, cluster.Config{
//		Name: "node-1", BindAddr: "127.0.0.1", Seeds: seeds,
//		OnChange: func(members []cluster.Member) { ... },
//	}, cluster.Meta{RemoteAddr: addr, Capabilities: []string{"counter"}})
//	err = m.SetMeta(newMeta, time.Second) // ErrMetaTooLarge past 512 bytes
//
// With Config.Discovery, seeds are looked up at Join and at every re-join
// round, and those that are not members are joined:
//
//	cfg.Discovery = &cluster.DNS{Name: "_gossip._tcp.mesh.default.svc.cluster.local"}
//	d := m.Discovered() // the last answer; d.Self once it listed this node
//	defer m.Leave(time.Second)
//
// Subscribe delivers the membership's events (joined, left, failed,
// capabilities or labels changed, draining, restarted) to one subscriber,
// in order, after one EventPresent per member:
//
//	s, err := cluster.Subscribe(ctx, m, 256, func(e cluster.Event) cluster.Event { return e })
//	for e := range s.C() { ... }          // closed on s.Close(), ctx's end or Leave
//	err = s.Err()
//
// A subscriber that falls behind by more than its buffer loses events, and
// receives one EventMissed with their count where they would have been.
//
// Metadata from the network is decoded defensively: bad input yields
// ErrBadMeta, never a panic.
//
// # Security
//
// Without Config.Keys, anyone who reaches the gossip port can join and
// claim any metadata. With them, memberlist seals every packet and stream
// with AES-GCM under the primary key (Keys[0]) and drops whatever no key
// of the ring opens, plaintext included; a node without a key the others
// seal with never gets in. Config.Label keeps clusters that share a
// network apart: it is sent in clear, and gossip with another label is
// dropped. Keys change while nodes run:
//
//	err = m.AddKey(next)     // on every node: accepted from now on
//	err = m.UseKey(next)     // then on every node: sealed with from now on
//	err = m.RemoveKey(prev)  // then on every node; ErrPrimaryKey for the primary
//	m.KeyFingerprints()      // ["1a2b3c4d"]: never the keys themselves
//
// Each step must be done on every node before the next begins: a node
// sealing with a key that another lacks, or lacking one another seals
// with, stops hearing it. Every key of a ring admits its holder: a node
// that holds only a key the others accept but do not seal with is listed
// as a member, part of the time, while it hears nobody.
//
// # Concurrency
//
// A Membership is safe for concurrent use; keyring changes are serialised
// and apply from the next packet on. memberlist's event callbacks only
// copy the node, queue events for the subscribers without waiting for them,
// and signal a goroutine, which debounces bursts and calls OnChange;
// OnChange is never called concurrently with itself. Each subscription
// has a goroutine of its own that delivers its events; Leave ends it.
package cluster
