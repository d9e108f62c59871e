package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/cluster"
	"github.com/meshrun/mesh/examples/chat/chatpb"
)

// TestDemo runs the demo and checks that every room kept its posts in
// order, that every node reads the same history, and that the output says
// so.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, logs bytes.Buffer
	res, err := demo(ctx, &out, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nlogs:\n%s", out.String(), logs.String())
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, l := range conversation {
		want[l.room] = append(want[l.room], l.member+": "+l.text)
	}
	for room, lines := range want {
		if len(res.histories[room]) != 3 {
			t.Errorf("#%s was read through %d nodes, want 3", room, len(res.histories[room]))
		}
		for node, got := range res.histories[room] {
			if !slices.Equal(got, lines) {
				t.Errorf("#%s through %s: %q, want %q", room, node, got, lines)
			}
		}
		if !strings.Contains(out.String(), "#"+room+" lives on "+res.holder[room]) {
			t.Errorf("the output does not say where #%s lives", room)
		}
	}
	if strings.Contains(out.String(), "DIFFERENT") {
		t.Error("the output reports histories that differ between nodes")
	}
	if logs.Len() > 0 {
		t.Errorf("the nodes logged warnings:\n%s", logs.String())
	}
	// node-1 heard the others join, and node-3 drain and leave, in order.
	for _, want := range [][]string{{"joined node-2", "joined node-3"}, {"draining node-3", "left node-3"}} {
		i, j := slices.Index(res.heard, want[0]), slices.Index(res.heard, want[1])
		if i < 0 || j < i {
			t.Errorf("node-1 heard %q; want %q then %q", res.heard, want[0], want[1])
		}
	}
}

// TestRoom: a room numbers its posts, keeps the last ones, and answers a
// history after a sequence number and within a limit.
func TestRoom(t *testing.T) {
	r := &room{node: "n"}
	for i := range keep + 5 {
		reply, err := r.Handle(actor.TestContext(context.Background(), capabilityName, "lobby"), &chatpb.Post{Member: "m", Text: strings.Repeat("x", i+1)})
		if err != nil || reply.(*chatpb.Posted).GetSeq() != int64(i+1) {
			t.Fatalf("post %d: %v, %v", i+1, reply, err)
		}
	}
	if _, err := r.Handle(actor.TestContext(context.Background(), capabilityName, "lobby"), &chatpb.Post{Member: "m"}); err == nil {
		t.Error("a post without text was taken")
	}
	for _, tt := range []struct {
		after, limit int
		first, count int64
	}{{0, 0, 6, keep}, {100, 0, 101, 5}, {0, 3, 103, 3}, {104, 10, 105, 1}, {105, 0, 0, 0}} {
		reply, err := r.Handle(actor.TestContext(context.Background(), capabilityName, "lobby"), &chatpb.History{AfterSeq: int64(tt.after), Limit: int32(tt.limit)})
		if err != nil {
			t.Fatal(err)
		}
		msgs := reply.(*chatpb.Messages).GetMessages()
		var first int64
		if len(msgs) > 0 {
			first = msgs[0].GetSeq()
		}
		if int64(len(msgs)) != tt.count || first != tt.first {
			t.Errorf("history after %d, limit %d: %d messages from %d; want %d from %d", tt.after, tt.limit, len(msgs), first, tt.count, tt.first)
		}
	}
}

// TestRoomStateMoves: a room restored from its snapshot answers as the
// room did, and a state in an unknown format is refused.
func TestRoomStateMoves(t *testing.T) {
	r := &room{node: "a"}
	ctx := actor.TestContext(context.Background(), capabilityName, "lobby")
	for _, text := range []string{"one", "two"} {
		if _, err := r.Handle(ctx, &chatpb.Post{Member: "ana", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	state, format, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	moved := &room{node: "b"}
	if err := moved.Restore(state, format); err != nil {
		t.Fatal(err)
	}
	reply, err := moved.Handle(ctx, &chatpb.History{})
	if err != nil {
		t.Fatal(err)
	}
	got := reply.(*chatpb.Messages)
	if len(got.GetMessages()) != 2 || got.GetMessages()[1].GetText() != "two" || !slices.Equal(got.GetMembers(), []string{"ana"}) {
		t.Fatalf("restored room answers %v", got)
	}
	posted, _ := moved.Handle(ctx, &chatpb.Post{Member: "ben", Text: "three"})
	if seq := posted.(*chatpb.Posted).GetSeq(); seq != 3 {
		t.Fatalf("next post numbered %d, want 3", seq)
	}
	if err := (&room{}).Restore(state, format+1); err == nil {
		t.Fatal("a state in an unknown format was taken")
	}
}

// TestAdminTokens: -admin-token, else $MESH_TOKEN, is the admin
// endpoint's operator token; with neither the endpoint has none.
func TestAdminTokens(t *testing.T) {
	t.Setenv("MESH_TOKEN", "")
	if got := adminTokens(""); got != nil {
		t.Errorf("no flag, no environment: %v", got)
	}
	t.Setenv("MESH_TOKEN", "from-the-environment")
	for flag, want := range map[string]string{"": "from-the-environment", "from-the-flag-0123": "from-the-flag-0123"} {
		got := adminTokens(flag)
		if len(got) != 1 || got[0].Secret != want || got[0].Role != admin.RoleOperator {
			t.Errorf("-admin-token %q: %v, want the operator token %q", flag, got, want)
		}
	}
}

// TestSeedsDNSFlag: -seeds-dns, else $MESH_SEEDS_DNS, reaches the node's
// configuration, which refuses a name that is no DNS name.
func TestSeedsDNSFlag(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
	}{
		{"", []string{"-node", "n", "-seeds-dns", "10.0.0.1:7946"}},
		{"mesh.local:0", []string{"-node", "n"}},
	} {
		t.Setenv("MESH_SEEDS_DNS", tc.env)
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "SeedsDNS") {
			t.Errorf("%v with $MESH_SEEDS_DNS=%q: exit %d, %q; want 1 and an error about SeedsDNS", tc.args, tc.env, code, stderr.String())
		}
	}
}

// TestKubernetesArgs: the arguments deploy/kubernetes gives the chat
// nodes are flags this program takes, and its seeds DNS name is valid.
func TestKubernetesArgs(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pod := strings.NewReplacer("$(POD_NAME)", "mesh-chat-0", "$(POD_IP)", "10.0.0.7", "$(POD_NAMESPACE)", "default")
	var args []string
	for line := range strings.Lines(string(b)) {
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "- -"); ok {
			args = append(args, pod.Replace("-"+a))
		}
	}
	if len(args) < 5 {
		t.Fatalf("found only %q in the manifest", args)
	}
	// -h, last, stops the program once every flag before it has parsed.
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "-h"), &stdout, &stderr); code != 0 || strings.Contains(stderr.String(), "invalid") {
		t.Fatalf("%q: exit %d\n%s", args, code, stderr.String())
	}
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "-seeds-dns="); ok {
			if err := (&cluster.DNS{Name: name}).Validate(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
