package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/store/postgres"
)

// A node that keeps the state of its processes in PostgreSQL: every node
// of the cluster opens the same database. Open connects before it
// returns, so a node whose database is down does not start.
func ExampleOpen() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, "postgres://mesh:secret@db.example:5432/mesh?sslmode=verify-full")
	if err != nil {
		log.Fatal(err) // wraps store.ErrUnavailable if the server cannot be reached
	}
	defer s.Close()

	cfg := mesh.DefaultLANConfig()
	cfg.NodeName = "node-1"
	cfg.Store = s
	node, err := mesh.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close(context.Background())
}
