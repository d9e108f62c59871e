package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/examples/game/gamepb"
)

// TestDemo runs the demo and checks that every session was served by a
// node labelled with its region, before and after the stop, that the
// stopped node's sessions moved within their region with their scores,
// and that a region no
// node serves fails with ErrNoNode; one capability, split by region, has
// a ring per region over that region's nodes.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, logs bytes.Buffer
	res, err := runDemo(ctx, &out, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nlogs:\n%s", out.String(), logs.String())
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	for region, ring := range res.rings {
		if len(ring) != 2 || !strings.HasPrefix(ring[0], region+"-") || !strings.HasPrefix(ring[1], region+"-") {
			t.Errorf("the %s ring is over %v", region, ring)
		}
	}
	if len(res.rings) != 2 {
		t.Errorf("rings %v, want eu and us", res.rings)
	}
	if len(res.before) != len(plays) || len(res.after) != len(plays) {
		t.Fatalf("served %d sessions before the stop and %d after, want %d", len(res.before), len(res.after), len(plays))
	}
	moved, nodes := 0, map[string]bool{}
	for _, p := range plays {
		key := p.region + "/" + p.id
		before, after := res.before[key], res.after[key]
		nodes[before] = true
		if res.regionOf[before] != p.region || res.regionOf[after] != p.region {
			t.Errorf("%s served by %s (region %q) then %s (region %q)", key, before, res.regionOf[before], after, res.regionOf[after])
		}
		// Two rounds of 10 and 20 points each: nothing lost as sessions moved.
		if got := res.points[key]; got != 60 {
			t.Errorf("%s scored %d after the stop, want 60", key, got)
		}
		if after == res.stopped {
			t.Errorf("%s served by %s after it stopped", key, after)
		}
		if before == res.stopped {
			moved++
		}
	}
	if moved == 0 || len(nodes) != 4 {
		t.Errorf("%d sessions moved off %s, sessions were spread over %d nodes; want some and 4", moved, res.stopped, len(nodes))
	}
	if !errors.Is(res.noRegion, mesh.ErrNoNode) {
		t.Errorf("a session of an unserved region: %v, want ErrNoNode", res.noRegion)
	}
	if logs.Len() > 0 {
		t.Errorf("the nodes logged warnings:\n%s", logs.String())
	}
}

// TestSession: players join once, score only after joining, and the
// state names the session, its region and its node.
func TestSession(t *testing.T) {
	s := &session{node: "eu-1", region: "eu"}
	ctx := actor.TestContext(context.Background(), capabilityOf("eu"), "match-1")
	for _, m := range []*gamepb.Join{{Player: "ana"}, {Player: "ana"}, {Player: "ben"}} {
		if _, err := s.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Handle(ctx, &gamepb.Score{Player: "zed", Points: 1}); err == nil || !strings.Contains(err.Error(), "not joined") {
		t.Errorf("score of a player who did not join: %v", err)
	}
	reply, err := s.Handle(ctx, &gamepb.Score{Player: "ana", Points: 5})
	if err != nil {
		t.Fatal(err)
	}
	st := reply.(*gamepb.State)
	if st.GetScores()["ana"] != 5 || len(st.GetScores()) != 2 || st.GetRegion() != "eu" || st.GetNode() != "eu-1" {
		t.Errorf("state %v", st)
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
