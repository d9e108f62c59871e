package mesh

import (
	"fmt"
	"testing"

	"github.com/meshrun/mesh/internal/wire"
	"google.golang.org/protobuf/proto"
)

// TestChunkStates: a handoff of many small states, or of large ones, goes
// in chunks that fit the bound, in order, none lost; a state larger than
// the bound goes alone.
func TestChunkStates(t *testing.T) {
	small := func(n int) []*wire.State {
		out := make([]*wire.State, n)
		for i := range out {
			out[i] = &wire.State{Id: fmt.Sprint("counter-", i), Shard: uint32(i), Type: "google.protobuf.Int64Value", Data: []byte{8, 1}, Version: 7}
		}
		return out
	}
	big := []*wire.State{{Id: "a", Data: make([]byte, 600<<10)}, {Id: "b", Data: make([]byte, 600<<10)}, {Id: "c", Data: make([]byte, 3<<20)}, {Id: "d"}}
	for _, tt := range []struct {
		name   string
		states []*wire.State
		chunks int
	}{
		{"none", nil, 1},
		{"one", small(1), 1},
		{"many small", small(100_000), 25},
		{"large", big, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			chunks := chunkStates(tt.states)
			if len(chunks) != tt.chunks {
				t.Fatalf("%d chunks, want %d", len(chunks), tt.chunks)
			}
			i := 0
			for _, c := range chunks {
				size := proto.Size(&wire.Handoff{From: "node-1", Capability: "counter", States: c, Done: true})
				if len(c) > handoffStates || (len(c) > 1 && size > handoffChunk+1024) {
					t.Fatalf("a chunk of %d states, %d bytes", len(c), size)
				}
				for _, st := range c {
					if st != tt.states[i] {
						t.Fatalf("state %d out of order or lost", i)
					}
					i++
				}
			}
			if i != len(tt.states) {
				t.Fatalf("%d of %d states in the chunks", i, len(tt.states))
			}
		})
	}
}
