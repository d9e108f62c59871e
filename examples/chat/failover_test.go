package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/examples/chat/chatpb"
	"github.com/meshrun/mesh/meshtest"
	"github.com/meshrun/mesh/store"
)

// TestRoomSurvivesAKilledNode tests the room capability as an application
// tests its own, with meshtest: three nodes in this process sharing a
// store, rooms that save every post. The node that holds #general is
// killed (no drain, no handoff); once the others have seen it go, the
// room answers from another node with every post it acknowledged.
func TestRoomSurvivesAKilledNode(t *testing.T) {
	st := store.NewMemory()
	rooms := roomCapability("")
	rooms.Save = mesh.SaveOnChange
	c := meshtest.NewCluster(t, 3,
		meshtest.WithConfig(func(cfg *mesh.Config) { cfg.Store = st }),
		meshtest.WithCapabilities(rooms))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	holder := c.Owner(capabilityName, "general")
	var caller *mesh.Node
	for _, n := range c.Nodes() {
		if n != holder {
			caller = n
		}
	}
	posts := []string{"one", "two", "three"}
	for _, text := range posts {
		if _, err := call(ctx, caller, "general", &chatpb.Post{Member: "alice", Text: text}); err != nil {
			t.Fatal(err)
		}
	}

	c.Kill(holder.Name())
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	reply, err := call(ctx, caller, "general", &chatpb.History{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range reply.(*chatpb.Messages).GetMessages() {
		got = append(got, m.GetText())
	}
	if !slices.Equal(got, posts) {
		t.Fatalf("#general after %s was killed: %q, want %q", holder.Name(), got, posts)
	}
	if now := c.Owner(capabilityName, "general"); now == nil || now.Name() == holder.Name() {
		t.Fatalf("#general is still placed on the killed %s", holder.Name())
	}
}
