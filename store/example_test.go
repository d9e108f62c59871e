package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshrun/mesh/store"
)

// Two activations of one process load the same version; the first to save
// wins, and the other is refused as stale.
func Example() {
	ctx := context.Background()
	s := store.NewMemory()
	defer s.Close()
	k := store.Key{Capability: "counter", ID: "user-42"}

	// Nothing is stored yet: the key is at version 0.
	rec, err := s.Load(ctx, k)
	fmt.Println(errors.Is(err, store.ErrNotFound), rec.Version)
	base := rec.Version

	// The current activation saves the next version: an Int64Value of 5.
	err = s.Save(ctx, k, store.Record{Version: base + 1, Type: "google.protobuf.Int64Value", Format: 1, Data: []byte{0x08, 0x05}})
	fmt.Println(err)

	// A stale activation that also loaded version 0 offers the same one.
	err = s.Save(ctx, k, store.Record{Version: base + 1, Type: "google.protobuf.Int64Value", Format: 1, Data: []byte{0x08, 0x07}})
	var stale *store.StaleError
	fmt.Println(errors.Is(err, store.ErrStale), errors.As(err, &stale) && stale.Stored == 1)
	fmt.Println(err)

	rec, _ = s.Load(ctx, k)
	fmt.Println(rec.Version, rec.Type, rec.Data)
	// Output:
	// true 0
	// <nil>
	// true true
	// store: stale save of "counter/user-42": version 1 stored, 1 offered, 2 needed
	// 1 google.protobuf.Int64Value [8 5]
}

// A deletion takes a version of its own, so an activation that saw the
// record before it was deleted cannot bring it back.
func ExampleMemory_Delete() {
	ctx := context.Background()
	s := store.NewMemory()
	defer s.Close()
	k := store.Key{Capability: "room", ID: "general"}

	_ = s.Save(ctx, k, store.Record{Version: 1, Data: []byte("hello")})
	fmt.Println(s.Delete(ctx, k, 1))

	rec, err := s.Load(ctx, k)
	fmt.Println(errors.Is(err, store.ErrNotFound), rec.Version)

	// An activation that last saw version 1 is refused.
	err = s.Save(ctx, k, store.Record{Version: 2, Data: []byte("hello again")})
	fmt.Println(errors.Is(err, store.ErrStale))

	// A new activation starts after the deletion's version.
	fmt.Println(s.Save(ctx, k, store.Record{Version: rec.Version + 1}))
	// Output:
	// <nil>
	// true 2
	// true
	// <nil>
}
