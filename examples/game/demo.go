package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/examples/game/gamepb"
	"google.golang.org/protobuf/proto"
)

// demoNodes are the demo's nodes and their regions.
var demoNodes = []struct{ name, region string }{
	{"eu-1", "eu"}, {"eu-2", "eu"}, {"us-1", "us"}, {"us-2", "us"},
}

// play is one session of the demo: its region, its ID and its players.
type play struct {
	region, id string
	players    []string
}

var plays = []play{
	{"eu", "match-1", []string{"ana", "ben"}},
	{"eu", "match-2", []string{"cleo", "dan"}},
	{"eu", "match-3", []string{"eva", "finn"}},
	{"eu", "match-4", []string{"gus", "hana"}},
	{"us", "match-1", []string{"ivy", "jay"}},
	{"us", "match-2", []string{"kim", "leo"}},
	{"us", "match-3", []string{"max", "nia"}},
	{"us", "match-4", []string{"oz", "pam"}},
}

// demoResult is what the demo saw, for its test.
type demoResult struct {
	// regionOf is each node's region label, as the nodes gossip it.
	regionOf map[string]string
	// before and after are the node serving each session ("eu/match-1")
	// before and after the stop; points its total score after the stop.
	before, after map[string]string
	points        map[string]int64
	// rings are the nodes on each region's ring.
	rings map[string][]string
	// stopped is the node the demo stopped.
	stopped string
	// noRegion is the error of a call to a region no node serves.
	noRegion error
}

// runDemo starts the demo's nodes in this process, plays every session
// through a node of each region, stops a node and plays again.
func runDemo(ctx context.Context, out io.Writer, logger *slog.Logger) (*demoResult, error) {
	began := time.Now()
	fmt.Fprintf(out, "mesh game demo: four nodes in this process, two per region. Every node registers\n"+
		"\"game\" split by its label region: a node of region R offers %q, one ring per region,\n"+
		"so R's sessions live only there.\n\n", capabilityOf("R"))
	nodes := map[string]*mesh.Node{}
	var order []*mesh.Node
	defer func() {
		for _, n := range slices.Backward(order) {
			closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = n.Close(closeCtx)
			cancel()
		}
	}()
	var seeds []string
	for _, d := range demoNodes {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName = d.name
		cfg.Seeds = seeds
		cfg.Labels = map[string]string{"region": d.region}
		cfg.Logger = logger
		n, err := mesh.Start(ctx, cfg)
		if err != nil {
			return nil, err
		}
		nodes[d.name] = n
		order = append(order, n)
		if err := n.RegisterCapabilities(sessionCapability(d.name, d.region)); err != nil {
			return nil, err
		}
		seeds = append(seeds, n.GossipAddr())
	}
	if err := waitRouted(ctx, order, map[string]int{capabilityOf("eu"): 2, capabilityOf("us"): 2}); err != nil {
		return nil, err
	}
	res := &demoResult{regionOf: map[string]string{}, before: map[string]string{}, after: map[string]string{},
		points: map[string]int64{}}
	t := newTable(out, "  NODE", "LABELS", "OFFERS")
	for _, m := range order[0].Members() {
		res.regionOf[m.Name] = m.Labels["region"]
		t.row("  "+m.Name, "region="+m.Labels["region"], strings.Join(m.Capabilities, ","))
	}
	_ = t.Flush()
	res.rings = map[string][]string{}
	for _, region := range []string{"eu", "us"} {
		p, err := order[len(order)-1].Locate(capabilityOf(region), "match-1")
		if err != nil {
			return nil, err
		}
		res.rings[region] = ringOf(p)
		fmt.Fprintf(out, "\nThe %s ring, as %s sees it (mesh owner %s match-1 says the same):\n",
			capabilityOf(region), order[len(order)-1].Name(), capabilityOf(region))
		t := newTable(out, "  MEMBER", "RING")
		for _, m := range p.Members {
			t.row("  "+m.Name, cmp.Or(m.Reason, "on the ring, requires region="+p.Requires["region"]))
		}
		_ = t.Flush()
	}

	fmt.Fprintf(out, "\nPlayers join and score through a node of the other region; the call goes where the session lives:\n\n")
	if err := playAll(ctx, out, order, res.before, nil); err != nil {
		return nil, err
	}

	// Stop the eu node that holds most eu sessions.
	held := map[string]int{}
	for key, node := range res.before {
		if strings.HasPrefix(key, "eu/") {
			held[node]++
		}
	}
	res.stopped = "eu-1"
	if held["eu-2"] > held["eu-1"] {
		res.stopped = "eu-2"
	}
	fmt.Fprintf(out, "\nStopping %s gracefully: its sessions move to the other eu node, never to us.\n", res.stopped)
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := nodes[res.stopped].Close(closeCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	order = slices.DeleteFunc(order, func(n *mesh.Node) bool { return n.Name() == res.stopped })
	if err := waitRouted(ctx, order, map[string]int{capabilityOf("eu"): 1, capabilityOf("us"): 2}); err != nil {
		return nil, err
	}
	fmt.Fprintln(out)
	if err := playAll(ctx, out, order, res.after, res.points); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "\n  the sessions that moved kept their scores: %s handed them to the other eu node as it left.\n", res.stopped)

	_, res.noRegion = call(ctx, order[0], capabilityOf("ap"), "match-1", &gamepb.Get{})
	fmt.Fprintf(out, "\nA session of a region no node serves: %v\n", res.noRegion)
	fmt.Fprintf(out, "\nDone in %.1fs.\n", time.Since(began).Seconds())
	return res, nil
}

// playAll has the players of every session join and score once, each call
// made through a node of the other region, and prints where each session
// answered from; served gets the serving node per session, and points,
// unless nil, its total score.
func playAll(ctx context.Context, out io.Writer, nodes []*mesh.Node, served map[string]string, points map[string]int64) error {
	t := newTable(out, "  SESSION", "CALLED VIA", "SERVED BY", "SCORES")
	for i, p := range plays {
		var via *mesh.Node
		for j := range nodes {
			if n := nodes[(i+j)%len(nodes)]; !strings.HasPrefix(n.Name(), p.region) {
				via = n
				break
			}
		}
		var st *gamepb.State
		for k, player := range p.players {
			for _, msg := range []proto.Message{&gamepb.Join{Player: player}, &gamepb.Score{Player: player, Points: int64(10 * (k + 1))}} {
				reply, err := call(ctx, via, capabilityOf(p.region), p.id, msg)
				if err != nil {
					return fmt.Errorf("%s/%s via %s: %w", p.region, p.id, via.Name(), err)
				}
				st = reply.(*gamepb.State)
			}
		}
		served[p.region+"/"+p.id] = st.GetNode()
		var scores []string
		for _, player := range slices.Sorted(maps.Keys(st.GetScores())) {
			scores = append(scores, fmt.Sprintf("%s %d", player, st.GetScores()[player]))
			if points != nil {
				points[p.region+"/"+p.id] += st.GetScores()[player]
			}
		}
		t.row("  "+capabilityOf(p.region)+"/"+p.id, via.Name(), st.GetNode(), strings.Join(scores, ", "))
	}
	return t.Flush()
}

// call sends msg to the session and waits up to 5 s for the reply.
func call(ctx context.Context, n *mesh.Node, capability, id string, msg proto.Message) (proto.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return n.Call(ctx, mesh.Request{Capability: capability, ID: id, Payload: msg})
}

// waitRouted waits until every node routes each capability to as many
// nodes as want says.
func waitRouted(ctx context.Context, nodes []*mesh.Node, want map[string]int) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		routed := true
		for _, n := range nodes {
			for c, count := range want {
				p, err := n.Locate(c, "any")
				routed = routed && err == nil && len(ringOf(p)) == count
			}
		}
		if routed {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the nodes did not agree on the placement within 20s")
		case <-tick.C:
		}
	}
}

// ringOf returns the nodes on the ring of p's capability.
func ringOf(p mesh.Placement) []string {
	var on []string
	for _, m := range p.Members {
		if m.OnRing {
			on = append(on, m.Name)
		}
	}
	return on
}

// newTable returns a writer of aligned columns, with header as its first
// row; Flush it when done.
func newTable(w io.Writer, header ...any) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)}
	t.row(header...)
	return t
}

type table struct{ *tabwriter.Writer }

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t, strings.Join(s, "\t"))
}
