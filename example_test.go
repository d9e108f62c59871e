package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Example is the quick start: one node offering a counter capability, and
// calls to the counter "user-42", which is activated on its first call.
func Example() {
	ctx := context.Background()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = "node-1"
	node, err := mesh.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close(ctx)

	// One counter process per ID; Handle is never called concurrently.
	err = node.RegisterCapabilities(mesh.Capability{Name: "counter", New: func(id string) mesh.Process {
		var count int64
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			count += msg.(*wrapperspb.Int64Value).GetValue()
			return wrapperspb.String(fmt.Sprintf("%s = %d", ctx.ID(), count)), nil
		})
	}})
	if err != nil {
		log.Fatal(err)
	}

	for _, delta := range []int64{5, 10} {
		reply, err := node.Call(ctx, mesh.Request{Capability: "counter", ID: "user-42", Payload: wrapperspb.Int64(delta)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.(*wrapperspb.StringValue).GetValue())
	}
	// Output:
	// user-42 = 5
	// user-42 = 15
}

// ExampleNode_Locate shows where an ID lives: the shard its hash falls in
// and the node that owns that shard, here the only node.
func ExampleNode_Locate() {
	ctx := context.Background()
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = "node-1"
	node, err := mesh.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close(ctx)

	if _, err := node.Locate("counter", "user-42"); errors.Is(err, mesh.ErrNoNode) {
		fmt.Println("before registering:", err)
	}
	err = node.RegisterCapabilities(mesh.Capability{Name: "counter", New: func(string) mesh.Process {
		return mesh.ProcessFunc(func(mesh.Context, proto.Message) (proto.Message, error) { return &emptypb.Empty{}, nil })
	}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := node.Locate("counter", "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s/%s: shard %d of %d, owner %s\n", p.Capability, p.ID, p.Shard, cfg.Shards, p.Owner)
	// Output:
	// before registering: mesh: no node offers the capability: "counter"
	// counter/user-42: shard 3201 of 4096, owner node-1
}

// TestReadmeQuickStart keeps the quick start of README.md identical to the
// body of Example, which go test compiles and runs.
func TestReadmeQuickStart(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "func Example() {\n")
	if ok {
		body, _, ok = strings.Cut(body, "\t// Output:")
	}
	if !ok {
		t.Fatal("no Example with an Output comment in example_test.go")
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if !strings.Contains(string(readme), "```go\n"+want.String()+"```") {
		t.Errorf("README.md's quick start differs from Example's body; it should read:\n%s", want.String())
	}
}

// A node in a Kubernetes pod: it finds its peers through the headless
// service's DNS records and drains when the pod is stopped, within the
// pod's terminationGracePeriodSeconds (30 s).
func ExampleNode_CloseOnSignal() {
	cfg := mesh.DefaultLANConfig() // NodeName: the host name, the pod's name
	cfg.GossipAdvertiseAddr = os.Getenv("POD_IP") + ":7946"
	cfg.RemoteAdvertiseAddr = os.Getenv("POD_IP")
	cfg.SeedsDNS = "mesh-gossip.default.svc.cluster.local:7946"
	cfg.AdminAddr = "0.0.0.0:9101" // /healthz and /readyz for the probes
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	// ... n.RegisterCapabilities(...)
	if err := n.CloseOnSignal(context.Background(), 25*time.Second); err != nil {
		log.Print(err)
	}
}
