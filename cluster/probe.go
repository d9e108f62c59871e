package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Probe is what this node's failure detector last heard from a member.
type Probe struct {
	// Acked is when a direct probe of the member was last acknowledged.
	Acked time.Time
	// RTT is that probe's round trip.
	RTT time.Duration
}

// probes records the acknowledged probes memberlist reports. memberlist
// has no event for a member turning suspect, and a *memberlist.Node's State
// may only be read under memberlist's lock, so the acks are how mesh tells,
// without a data race, that a member stopped answering.
type probes struct {
	interval time.Duration

	mu   sync.Mutex // guards acks
	acks map[string]Probe
}

// Probes returns the last acknowledged direct probe of every member that
// has answered one, by name.
func (m *Membership) Probes() map[string]Probe {
	m.membersMu.Lock()
	defer m.membersMu.Unlock()
	m.probes.mu.Lock()
	defer m.probes.mu.Unlock()
	out := make(map[string]Probe, len(m.probes.acks))
	for name, p := range m.probes.acks {
		if _, ok := m.members[name]; ok {
			out[name] = p
		} else {
			delete(m.probes.acks, name) // gone: forget it
		}
	}
	return out
}

// ProbeInterval returns how often memberlist probes one member. Every
// member is probed in turn, in a shuffled order, so each one is probed
// about once per (members - 1) intervals.
func (m *Membership) ProbeInterval() time.Duration { return m.probes.interval }

// pinger is memberlist's PingDelegate: it records acknowledged probes. It
// runs on memberlist's probe goroutine, outside memberlist's locks.
type pinger Membership

// AckPayload implements memberlist.PingDelegate; mesh sends none.
func (p *pinger) AckPayload() []byte { return nil }

// NotifyPingComplete implements memberlist.PingDelegate.
func (p *pinger) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	m := (*Membership)(p)
	m.probes.mu.Lock()
	if m.probes.acks == nil {
		m.probes.acks = make(map[string]Probe)
	}
	m.probes.acks[other.Name] = Probe{Acked: time.Now(), RTT: rtt}
	m.probes.mu.Unlock()
}
