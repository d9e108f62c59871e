package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/examples/chat/chatpb"
	"google.golang.org/protobuf/proto"
)

// line is one post of the demo's conversation.
type line struct{ member, room, text string }

// conversation is what the demo's members say.
var conversation = []line{
	{"alice", "general", "hi all, the build is green"},
	{"bob", "general", "nice, deploying to staging"},
	{"carol", "design", "new mock-ups are up"},
	{"alice", "news", "v2 ships on Friday"},
	{"carol", "general", "staging looks good"},
	{"bob", "design", "the dark theme works"},
	{"bob", "news", "release notes drafted"},
	{"alice", "design", "ship it"},
}

// homes says which node each member is connected to.
var homes = map[string]int{"alice": 0, "bob": 1, "carol": 2}

// demoResult is what the demo saw, for its test.
type demoResult struct {
	// holder is the node whose room process took each room's posts.
	holder map[string]string
	// histories is each room's history as each node read it, one
	// "member: text" per message.
	histories map[string]map[string][]string
	// heard is what node-1's membership subscription received, one
	// "kind member" per event.
	heard []string
}

// runDemo starts three nodes in this process, lets each member post
// through its own node and reads every room back through every node.
func runDemo(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	_, err := demo(ctx, out, logger)
	return err
}

func demo(ctx context.Context, out io.Writer, logger *slog.Logger) (*demoResult, error) {
	began := time.Now()
	fmt.Fprintf(out, "mesh chat demo: three nodes in this process, each offering %q; a room is a process.\n\n", capabilityName)
	var nodes []*mesh.Node
	defer func() {
		// One at a time: a node leaving while its peers leave too has
		// nobody left to hear its goodbye.
		for _, n := range slices.Backward(nodes) {
			closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = n.Close(closeCtx)
			cancel()
		}
	}()
	var seeds []string
	var sub *mesh.Subscription
	var err error
	for i := range 3 {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName = fmt.Sprintf("node-%d", i+1)
		cfg.Seeds = seeds
		cfg.Logger = logger
		n, err := mesh.Start(ctx, cfg)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		if err := n.RegisterCapabilities(roomCapability(n.Name())); err != nil {
			return nil, err
		}
		if i == 0 {
			// node-1 hears of every change of the membership from here.
			if sub, err = n.Subscribe(ctx, 0); err != nil {
				return nil, err
			}
			defer sub.Close()
		}
		seeds = append(seeds, n.GossipAddr())
	}
	if err := waitRouted(ctx, nodes, 20*time.Second); err != nil {
		return nil, err
	}
	res := &demoResult{holder: map[string]string{}, histories: map[string]map[string][]string{}}
	fmt.Fprintf(out, "node-1 subscribed to membership events before the others started, and heard:\n")
	res.heard = append(res.heard, hear(out, sub, 2*time.Second, "joined node-3")...)
	fmt.Fprintln(out)
	fmt.Fprintf(out, "alice is connected to node-1, bob to node-2, carol to node-3. They post:\n\n")

	t := newTable(out, "  MEMBER", "VIA", "ROOM", "MESSAGE", "SEQ", "ROOM LIVES ON")
	for _, l := range conversation {
		via := nodes[homes[l.member]]
		reply, err := call(ctx, via, l.room, &chatpb.Post{Member: l.member, Text: l.text})
		if err != nil {
			return nil, fmt.Errorf("%s posting to %s: %w", l.member, l.room, err)
		}
		posted := reply.(*chatpb.Posted)
		res.holder[l.room] = posted.GetNode()
		t.row("  "+l.member, via.Name(), "#"+l.room, l.text, posted.GetSeq(), posted.GetNode())
	}
	_ = t.Flush()

	fmt.Fprintf(out, "\nEvery room's history, read through every node:\n")
	rooms := slices.Sorted(maps.Keys(res.holder))
	for _, r := range rooms {
		res.histories[r] = map[string][]string{}
		var first []string
		same := true
		for _, n := range nodes {
			reply, err := call(ctx, n, r, &chatpb.History{})
			if err != nil {
				return nil, fmt.Errorf("history of %s through %s: %w", r, n.Name(), err)
			}
			var lines []string
			for _, m := range reply.(*chatpb.Messages).GetMessages() {
				lines = append(lines, m.GetMember()+": "+m.GetText())
			}
			res.histories[r][n.Name()] = lines
			if first == nil {
				first = lines
			}
			same = same && slices.Equal(lines, first)
		}
		verdict := "the same from every node"
		if !same {
			verdict = "DIFFERENT from node to node"
		}
		fmt.Fprintf(out, "\n  #%s lives on %s: %d messages, %s\n", r, res.holder[r], len(first), verdict)
		for _, l := range first {
			fmt.Fprintf(out, "    %s\n", l)
		}
	}
	fmt.Fprintf(out, "\nnode-3 closes: it drains, hands its rooms to the others and leaves. node-1 hears:\n")
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nodes[2].Close(closeCtx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("close node-3: %w", err)
	}
	nodes = nodes[:2]
	res.heard = append(res.heard, hear(out, sub, 5*time.Second, "left node-3")...)
	fmt.Fprintf(out, "\nDone in %.1fs.\n", time.Since(began).Seconds())
	return res, nil
}

// hear prints the events sub has received, one per line, until one reads
// last (such as "left node-3") or wait passes, and returns them as "kind
// member".
func hear(out io.Writer, sub *mesh.Subscription, wait time.Duration, last string) []string {
	var heard []string
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				return heard
			}
			e := ev.Kind.String() + " " + ev.Member.Name
			heard = append(heard, e)
			fmt.Fprintf(out, "  %s  %-21s %s\n", ev.At.Format("15:04:05.000"), ev.Kind, ev.Member.Name)
			if e == last {
				return heard
			}
		case <-timer.C:
			return heard
		}
	}
}

// call sends msg to the room and waits up to 5 s for the reply.
func call(ctx context.Context, n *mesh.Node, room string, msg proto.Message) (proto.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return n.Call(ctx, mesh.Request{Capability: capabilityName, ID: room, Payload: msg})
}

// waitRouted waits until every node routes rooms to every node: members
// come from gossip, and the routing snapshot follows them a moment later.
func waitRouted(ctx context.Context, nodes []*mesh.Node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		routed := true
		for _, n := range nodes {
			owners := map[string]bool{}
			for i := range 256 {
				if p, err := n.Locate(capabilityName, fmt.Sprint("sample-", i)); err == nil {
					owners[p.Owner] = true
				}
			}
			routed = routed && len(owners) == len(nodes)
		}
		if routed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the nodes did not all route %s to each other in %v", capabilityName, timeout)
		case <-tick.C:
		}
	}
}

// newTable returns a writer of aligned columns, with header as its
// first row; Flush it when done.
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
