package main

import (
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
	// before and after the stop.
	before, after map[string]string
	// stopped is the node the demo stopped.
	stopped string
	// noRegion is the error of a call to a region no node serves.
	noRegion error
}

// runDemo starts the demo's nodes in this process, plays every session
// through a node of each region, stops a node and plays again.
func runDemo(ctx context.Context, out io.Writer, logger *slog.Logger) (*demoResult, error) {
	began := time.Now()
	fmt.Fprintf(out, "mesh game demo: four nodes in this process, two per region; a node of region R\n"+
		"has the label region=R and offers %q, so R's sessions live only there.\n\n", capabilityOf("R"))
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
	if err := waitRouted(ctx, order, map[string]int{"game-eu": 2, "game-us": 2}); err != nil {
		return nil, err
	}
	res := &demoResult{regionOf: map[string]string{}, before: map[string]string{}, after: map[string]string{}}
	t := newTable(out, "  NODE", "LABELS", "OFFERS")
	for _, m := range order[0].Members() {
		res.regionOf[m.Name] = m.Labels["region"]
		t.row("  "+m.Name, "region="+m.Labels["region"], strings.Join(m.Capabilities, ","))
	}
	_ = t.Flush()

	fmt.Fprintf(out, "\nPlayers join and score through a node of the other region; the call goes where the session lives:\n\n")
	if err := playAll(ctx, out, order, res.before); err != nil {
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
	if err := waitRouted(ctx, order, map[string]int{"game-eu": 1, "game-us": 2}); err != nil {
		return nil, err
	}
	fmt.Fprintln(out)
	if err := playAll(ctx, out, order, res.after); err != nil {
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
// answered from; served gets the serving node per session.
func playAll(ctx context.Context, out io.Writer, nodes []*mesh.Node, served map[string]string) error {
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
				owners := map[string]bool{}
				for i := range 256 {
					if p, err := n.Locate(c, fmt.Sprint("sample-", i)); err == nil {
						owners[p.Owner] = true
					}
				}
				routed = routed && len(owners) == count
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
