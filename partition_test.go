package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// splitter cuts the gossip between two sides of a cluster in one process.
type splitter struct {
	mu    sync.Mutex
	side  map[string]int // gossip address → side
	split atomic.Bool
}

// cut returns the fault of the node whose gossip address *self will hold.
func (s *splitter) cut(self *string) func(string) bool {
	return func(addr string) bool {
		if !s.split.Load() {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.side[addr] != s.side[*self]
	}
}

func (s *splitter) start(t *testing.T, name string, side int, policy mesh.PartitionPolicy, seeds []string, caps ...mesh.Capability) *mesh.Node {
	t.Helper()
	self := new(string)
	n := startNodeWith(t, name, seeds, func(c *mesh.Config) {
		c.Partition = policy
		mesh.WithGossipCut(c, s.cut(self))
	}, caps...)
	s.mu.Lock()
	*self = n.GossipAddr()
	s.side[*self] = side
	s.mu.Unlock()
	return n
}

// TestMinorityStopsServing: cut one node of four off. By default it sees
// no majority and refuses calls with ErrNoQuorum, while the majority
// serves every ID and loses no acknowledged increment of the IDs it held;
// after the heal each ID is active on one node only. With the
// availability policy the lone node goes on serving.
func TestMinorityStopsServing(t *testing.T) {
	for _, policy := range []mesh.PartitionPolicy{mesh.PartitionMajority, mesh.PartitionAvailability} {
		t.Run(policy.String(), func(t *testing.T) {
			s := &splitter{side: map[string]int{}}
			client := s.start(t, "client", 0, policy, nil)
			seeds := []string{client.GossipAddr()}
			a := s.start(t, "node-1", 0, policy, seeds, counters)
			b := s.start(t, "node-2", 0, policy, seeds, counters)
			lone := s.start(t, "node-3", 1, policy, seeds, counters)
			waitConverged(t, client, a, b, lone)

			// The IDs the majority side holds throughout.
			var kept []int
			for i := range 300 {
				if p, _ := client.Locate("counter", fmt.Sprint("t-", i)); p.Owner != lone.Name() {
					kept = append(kept, i)
				}
			}
			load := startCounterLoad(client, 300, 8)
			time.Sleep(300 * time.Millisecond)

			s.split.Store(true)
			split := time.Now()
			waitFor(t, 20*time.Second, "the majority to see the lone node gone", func() bool { return len(client.Members()) == 3 })
			waitFor(t, 20*time.Second, "the lone node to see the others gone", func() bool { return len(lone.Members()) == 1 })
			t.Logf("%s: split seen by both sides after %v", policy, time.Since(split).Round(time.Millisecond))
			var err error
			call := func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err = lone.Call(ctx, mesh.Request{Capability: "counter", ID: "t-0", Payload: wrapperspb.String("get")})
				cancel()
				return errors.Is(err, mesh.ErrNoQuorum)
			}
			if policy == mesh.PartitionMajority {
				// The lone node serves on for the grace of a lost majority.
				waitFor(t, 5*time.Second, "the lone node to stop serving", call)
			} else {
				call()
			}
			switch {
			case policy == mesh.PartitionMajority && !errors.Is(err, mesh.ErrNoQuorum):
				t.Errorf("a call on the lone node: %v, want ErrNoQuorum", err)
			case policy == mesh.PartitionMajority && len(lone.Activations()) != 0:
				t.Errorf("the lone node kept %d activations", len(lone.Activations()))
			case policy == mesh.PartitionAvailability && err != nil:
				t.Errorf("a call on the lone node under the availability policy: %v", err)
			}
			time.Sleep(time.Second)

			s.split.Store(false)
			waitConverged(t, client, a, b, lone)
			time.Sleep(500 * time.Millisecond)
			load.end()
			t.Logf("%s: %d increments, %d failed (calls to the lone node's shards until the others declared it dead)",
				policy, load.calls.Load(), load.failed.Load())

			// Every ID is active on one node at most.
			where := map[string]string{}
			for _, n := range []*mesh.Node{a, b, lone} {
				for _, act := range n.Activations() {
					if other, ok := where[act.ID]; ok {
						t.Errorf("%s active on %s and %s after the heal", act.ID, other, n.Name())
					}
					where[act.ID] = n.Name()
				}
			}
			// The majority side's IDs lost nothing.
			for _, i := range kept {
				id := fmt.Sprint("t-", i)
				if got, want := read(t, client, id), load.acked[i].Load(); got != want {
					t.Errorf("%s counts %d, %d increments acknowledged", id, got, want)
				}
			}
		})
	}
}
