package mesh_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A capability that requires region=eu lives on eu nodes only, though
// every node registers it and a us node calls it; Locate says how its
// ring was formed.
func Example_labels() {
	ctx := context.Background()
	start := func(name, region string, seeds ...string) *mesh.Node {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.Seeds = name, seeds
		cfg.Labels = map[string]string{"region": region}
		n, err := mesh.Start(ctx, cfg)
		if err != nil {
			log.Fatal(err)
		}
		err = n.RegisterCapabilities(mesh.Capability{
			Name:     "orders",
			Requires: map[string]string{"region": "eu"},
			New: func(string) mesh.Process {
				return mesh.ProcessFunc(func(ctx mesh.Context, _ proto.Message) (proto.Message, error) {
					return wrapperspb.String(ctx.ID() + " on " + name), nil
				})
			},
		})
		if err != nil {
			log.Fatal(err)
		}
		return n
	}
	eu := start("eu-1", "eu")
	defer eu.Close(ctx)
	us := start("us-1", "us", eu.GossipAddr())
	defer us.Close(ctx)
	for len(us.Members()) < 2 || eu.RoutingVersion() != us.RoutingVersion() {
		time.Sleep(10 * time.Millisecond)
	}

	reply, err := us.Call(ctx, mesh.Request{Capability: "orders", ID: "order-7", Payload: wrapperspb.String("")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.(*wrapperspb.StringValue).GetValue())
	p, err := us.Locate("orders", "order-7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("requires", p.Requires)
	for _, m := range p.Members {
		if m.OnRing {
			fmt.Println(m.Name, "is on the ring")
		} else {
			fmt.Println(m.Name, m.Reason)
		}
	}
	// Output:
	// order-7 on eu-1
	// requires map[region:eu]
	// eu-1 is on the ring
	// us-1 lacks label region=eu
}
