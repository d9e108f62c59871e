package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/sqlite"
)

// A node keeps the state of its processes in one file; other nodes on the
// machine may open the same file.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "mesh-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := sqlite.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err) // not a database, cannot be created, locked past the busy timeout
	}
	defer st.Close()              // after the node has closed
	cfg := mesh.Config{Store: st} // with the node's other settings, for mesh.Start
	_ = cfg

	// What the node does with it: load, then save the next version.
	ctx := context.Background()
	k := store.Key{Capability: "counter", ID: "user-42"}
	rec, err := st.Load(ctx, k)
	fmt.Println(errors.Is(err, store.ErrNotFound), rec.Version)
	err = st.Save(ctx, k, store.Record{Version: rec.Version + 1, Type: "google.protobuf.Int64Value", Format: 1, Data: []byte{0x08, 0x05}})
	fmt.Println(err)
	rec, err = st.Load(ctx, k)
	fmt.Println(rec.Version, rec.Data, err)
	// Output:
	// true 0
	// <nil>
	// 1 [8 5] <nil>
}

// TestReadmeExampleOpen keeps the README's lines on turning the store on
// identical to ExampleOpen's, which go test compiles and runs.
func TestReadmeExampleOpen(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "\tst, err := sqlite.Open(")
	if ok {
		body, _, ok = strings.Cut(body, "\t_ = cfg\n")
	}
	if !ok {
		t.Fatal("ExampleOpen has moved: fix this test")
	}
	var want strings.Builder
	want.WriteString("st, err := sqlite.Open(")
	for _, line := range strings.SplitAfter(body, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if !strings.Contains(string(readme), "```go\n"+want.String()+"```") {
		t.Errorf("README.md's lines on the SQLite store differ from ExampleOpen's; they should read:\n%s", want.String())
	}
}
