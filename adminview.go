package mesh

import (
	"context"
	"errors"

	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// adminView is the view of a node the admin endpoint serves: it converts
// mesh's types to package admin's and marks errors with the kind that
// chooses the answer's HTTP status.
type adminView struct{ n *Node }

var _ admin.Node = adminView{}

func (v adminView) Name() string                 { return v.n.name }
func (v adminView) RoutingVersion() uint64       { return v.n.RoutingVersion() }
func (v adminView) Metrics() prometheus.Gatherer { return v.n.Metrics() }

func (v adminView) Members() []admin.MemberInfo {
	members := v.n.Members()
	out := make([]admin.MemberInfo, 0, len(members))
	for _, m := range members {
		out = append(out, admin.MemberInfo{
			Name: m.Name, Self: m.Self, State: string(m.State), GossipAddr: m.GossipAddr, RemoteAddr: m.RemoteAddr,
			Capabilities: m.Capabilities, Labels: m.Labels, LastSeen: m.LastSeen, ProbeRTT: m.ProbeRTT,
		})
	}
	return out
}

func (v adminView) Activations() []admin.ActivationInfo {
	acts := v.n.Activations()
	out := make([]admin.ActivationInfo, 0, len(acts))
	for _, a := range acts {
		out = append(out, admin.ActivationInfo{
			Capability: a.Capability, ID: a.ID, Shard: a.Shard, PID: a.PID, Since: a.Since, LastUsed: a.LastUsed,
			Origin: a.Origin,
		})
	}
	return out
}

func (v adminView) Locate(capability, id string) (admin.Placement, error) {
	p, err := v.n.Locate(capability, id)
	switch {
	case errors.Is(err, ErrInvalidRequest):
		return admin.Placement{}, admin.Mark(err, admin.ErrInvalid)
	case err != nil:
		return admin.Placement{}, admin.Mark(err, admin.ErrNotFound)
	}
	var nodes []string
	members := make([]admin.RingMember, 0, len(p.Members))
	for _, m := range p.Members {
		if m.OnRing {
			nodes = append(nodes, m.Name)
		}
		members = append(members, admin.RingMember{Name: m.Name, OnRing: m.OnRing, Weight: m.Weight, Reason: m.Reason})
	}
	return admin.Placement{
		Capability: p.Capability, ID: p.ID, Shard: p.Shard, Owner: p.Owner, RingNodes: nodes,
		RingVersion: p.RingVersion, RoutingVersion: p.RoutingVersion, Requires: p.Requires, Members: members,
	}, nil
}

// Rings counts the owners of every shard of each ring of the routing
// snapshot: 4096 index reads per capability at the default shard count.
func (v adminView) Rings() []admin.RingInfo {
	table := v.n.routes.Load().table
	caps := table.Capabilities()
	out := make([]admin.RingInfo, 0, len(caps))
	for _, c := range caps {
		ring := table.Ring(c)
		if ring == nil {
			continue
		}
		owners := make(map[string]int, len(ring.Nodes()))
		for s := range ring.Shards() {
			owners[ring.Owner(uint32(s))]++
		}
		out = append(out, admin.RingInfo{Capability: c, Version: ring.Version(), Shards: ring.Shards(), Owners: owners})
	}
	return out
}

func (v adminView) Status(ctx context.Context) admin.ClusterStatus {
	st := v.n.Status(ctx)
	out := admin.ClusterStatus{
		Node: st.Node, RoutingVersion: st.RoutingVersion, Status: st.Status,
		Members: make(map[string]int, len(st.Members)), RoutingVersions: st.RoutingVersions, CheckedAt: st.CheckedAt,
	}
	for _, r := range st.Reasons {
		out.Reasons = append(out.Reasons, admin.Reason{Kind: r.Kind, Subject: r.Subject, Detail: r.Detail})
	}
	for state, count := range st.Members {
		out.Members[string(state)] = count
	}
	return out
}

func (v adminView) Ping(ctx context.Context, member string) (admin.PingResult, error) {
	p, err := v.n.Ping(ctx, member)
	if errors.Is(err, ErrUnknownMember) {
		err = admin.Mark(err, admin.ErrNotFound)
	}
	return pingResult(p), err
}

func (v adminView) PingAll(ctx context.Context) []admin.PingResult {
	pongs := v.n.PingAll(ctx)
	out := make([]admin.PingResult, 0, len(pongs))
	for _, p := range pongs {
		out = append(out, pingResult(p))
	}
	return out
}

func pingResult(p Pong) admin.PingResult {
	return admin.PingResult{
		Node: p.Node, RTT: p.RTT, RoutingVersion: p.RoutingVersion, AdminAddr: p.AdminAddr,
		Activations: p.Activations, Draining: p.Draining, Err: p.Err,
	}
}

func (v adminView) Call(ctx context.Context, capability, id string, payload proto.Message) (proto.Message, string, error) {
	reply, err := v.n.Call(ctx, Request{Capability: capability, ID: id, Payload: payload})
	outcome := outcomeOf(err)
	switch {
	case errors.Is(err, ErrInvalidRequest):
		err = admin.Mark(err, admin.ErrInvalid)
	case errors.Is(err, ErrClosed):
		// Nothing was sent: another node may take the call.
		err = admin.Mark(err, admin.ErrUnavailable)
	}
	return reply, string(outcome), err
}

// Ready is Node.Ready, its pings bounded by a second.
func (v adminView) Ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), statusPingTimeout)
	defer cancel()
	return v.n.Ready(ctx)
}

// Events subscribes to the node's membership events for the endpoint.
func (v adminView) Events(ctx context.Context, buf int) (admin.EventStream, error) {
	n := v.n
	if n.closing.Load() {
		return nil, admin.Mark(ErrClosed, admin.ErrUnavailable)
	}
	s, err := cluster.Subscribe(ctx, n.members, buf, func(e cluster.Event) admin.EventInfo {
		m := n.memberOf(e.Member)
		return admin.EventInfo{
			Kind: e.Kind.String(), Member: m.Name, Self: m.Self, GossipAddr: m.GossipAddr,
			RemoteAddr: m.RemoteAddr, Capabilities: m.Capabilities, Labels: m.Labels,
			Draining: m.Draining, Incarnation: m.Incarnation, At: e.At, Missed: e.Missed,
		}
	})
	if err != nil {
		return nil, admin.Mark(closedError(err), admin.ErrUnavailable)
	}
	return s, nil
}
