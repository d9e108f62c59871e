package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ExampleNode_Subscribe watches the membership: the members present
// first, then every change, until the node closes.
func ExampleNode_Subscribe() {
	ctx := context.Background()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = "node-1"
	node, err := mesh.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	sub, err := node.Subscribe(ctx, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	e := <-sub.C()
	fmt.Println(e.Kind, e.Member.Name, "self:", e.Member.Self)

	err = node.RegisterCapabilities(mesh.Capability{Name: "counter", New: func(string) mesh.Process {
		return mesh.ProcessFunc(func(mesh.Context, proto.Message) (proto.Message, error) { return wrapperspb.String("ok"), nil })
	}})
	if err != nil {
		log.Fatal(err)
	}
	e = <-sub.C()
	fmt.Println(e.Kind, e.Member.Name, e.Member.Capabilities)

	_ = node.Close(ctx)
	for range sub.C() {
		// The node's own draining and leave, if they came in time.
	}
	fmt.Println("ended with ErrClosed:", errors.Is(sub.Err(), mesh.ErrClosed))
	// Output:
	// present node-1 self: true
	// capabilities_changed node-1 [counter]
	// ended with ErrClosed: true
}

// ExampleNode_Broadcast casts one message to every active process of a
// capability; IDs that are not active do not get it.
func ExampleNode_Broadcast() {
	ctx := context.Background()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = "node-1"
	node, err := mesh.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close(ctx)

	heard := make(chan string, 10)
	err = node.RegisterCapabilities(mesh.Capability{Name: "room", New: func(id string) mesh.Process {
		return mesh.ProcessFunc(func(c mesh.Context, msg proto.Message) (proto.Message, error) {
			if c.Cast() {
				heard <- id + " heard " + msg.(*wrapperspb.StringValue).GetValue()
				return nil, nil
			}
			return wrapperspb.String("joined"), nil
		})
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"lobby", "games", "news"} {
		if _, err := node.Call(ctx, mesh.Request{Capability: "room", ID: id, Payload: wrapperspb.String("join")}); err != nil {
			log.Fatal(err)
		}
	}

	res, err := node.Broadcast(ctx, "room", wrapperspb.String("closing at noon"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d node, %d processes\n", res.Nodes, res.Processes)
	var lines []string
	for range res.Processes {
		select {
		case l := <-heard:
			lines = append(lines, l)
		case <-time.After(5 * time.Second):
			log.Fatal("a process did not hear the broadcast")
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// 1 node, 3 processes
	// games heard closing at noon
	// lobby heard closing at noon
	// news heard closing at noon
}
