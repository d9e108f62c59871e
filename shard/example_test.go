package shard_test

import (
	"fmt"

	"github.com/meshrun/mesh/shard"
)

// Every node builds the same table from the same members, whatever order it
// sees them in, so every node names the same owner for an ID.
func ExampleBuild() {
	members := []shard.Member{
		{Name: "node-a", Capabilities: []string{"chat", "counter"}},
		{Name: "node-b", Capabilities: []string{"chat"}},
		{Name: "node-c", Capabilities: []string{"chat", "counter"}},
	}
	t := shard.Build(shard.DefaultShards, members, nil)

	s := shard.Of("user-42", t.Shards())
	fmt.Println("shard:", s)
	fmt.Println("capabilities:", t.Capabilities())
	fmt.Println("counter nodes:", t.Ring("counter").Nodes())
	fmt.Println("nobody offers game:", t.Ring("game") == nil)

	// A node that sees the members in another order agrees.
	other := shard.Build(shard.DefaultShards, []shard.Member{members[2], members[0], members[1]}, nil)
	fmt.Println("same owner:", other.Ring("chat").Owner(s) == t.Ring("chat").Owner(s))
	fmt.Println("same version:", other.Version() == t.Version())
	// Output:
	// shard: 3201
	// capabilities: [chat counter]
	// counter nodes: [node-a node-c]
	// nobody offers game: true
	// same owner: true
	// same version: true
}

// A join moves only the shards the new node takes over.
func ExampleRing_Moved() {
	before := shard.NewRing("chat", shard.DefaultShards, []string{"a", "b", "c"})
	after := shard.NewRing("chat", shard.DefaultShards, []string{"a", "b", "c", "d"})
	moved := after.Moved(before)
	fmt.Printf("moved between 1/8 and 3/8 of the shards: %v\n",
		len(moved) > shard.DefaultShards/8 && len(moved) < 3*shard.DefaultShards/8)
	fmt.Println("unchanged ring moves nothing:", len(after.Moved(after)) == 0)
	// Output:
	// moved between 1/8 and 3/8 of the shards: true
	// unchanged ring moves nothing: true
}
