package mesh

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshrun/mesh/internal/activation"
	"github.com/meshrun/mesh/internal/wire"
	"github.com/meshrun/mesh/shard"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestStaleCachedPIDRecoversInOneCall: a cached PID that names another
// activation now, or was made under an earlier incarnation of its node, is
// refused by the activation it reaches; the very call that used it is
// answered by the right process, and leaves the right PID in the cache.
func TestStaleCachedPIDRecoversInOneCall(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	x := idOn(t, a, b.name)
	var y string
	for i := 0; y == ""; i++ {
		cand := fmt.Sprint("other-", i)
		if o, _ := a.owner("echo", shard.Of(cand, a.cfg.Shards)); o == b.name {
			y = cand
		}
	}
	call := func(id string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		reply, err := a.Call(ctx, Request{Capability: "echo", ID: id, Payload: wrapperspb.String("hi")})
		if err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
		return reply.(*wrapperspb.StringValue).GetValue()
	}
	call(x)
	call(y)
	sx, sy := shard.Of(x, a.cfg.Shards), shard.Of(y, a.cfg.Shards)
	pidX, okX := b.table.Get("echo", x, sx)
	pidY, okY := b.table.Get("echo", y, sy)
	if !okX || !okY {
		t.Fatal("the calls made no activations on the owner")
	}
	version := a.routes.Load().table.Ring("echo").Version()

	for _, tc := range []struct {
		name  string
		stale activation.Cached
	}{
		{"PID of another ID", activation.Cached{PID: pidY, Owner: b.name, Version: version, Incarnation: b.incarnation}},
		{"PID of an earlier incarnation", activation.Cached{PID: pidX, Owner: b.name, Version: version, Incarnation: b.incarnation ^ 1}},
		{"PID of another ID in an earlier incarnation", activation.Cached{PID: pidY, Owner: b.name, Version: version, Incarnation: b.incarnation + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.cache.Put("echo", x, sx, tc.stale)
			if got, want := call(x), b.name+"/"+x+": hi"; got != want {
				t.Fatalf("the first call after the cache went stale got %q, want %q", got, want)
			}
			now, ok := a.cache.Get("echo", x, sx)
			if !ok || !now.PID.Equal(pidX) || now.Incarnation != b.incarnation {
				t.Fatalf("after one call the cache holds %+v (ok %v); want %v in incarnation %d", now, ok, pidX, b.incarnation)
			}
		})
	}
}

// TestReplyMeantForEarlierLifeIsDropped: a reply that echoes another
// incarnation of the caller reaches no call, even one waiting under the
// same request number.
func TestReplyMeantForEarlierLifeIsDropped(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	id := idOn(t, a, b.name)
	payloadType, payload, _ := wire.Pack(wrapperspb.String("hi"))
	router := b.routes.Load().routers[b.name]
	send := func(callerIncarnation uint64) error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := a.ask(ctx, router, &wire.Envelope{Capability: "echo", Id: id, Shard: shard.Of(id, a.cfg.Shards),
			Payload: payload, PayloadType: payloadType, CallerIncarnation: callerIncarnation})
		return err
	}
	if err := send(a.incarnation); err != nil {
		t.Fatalf("a reply to this life was not delivered: %v", err)
	}
	if err := send(a.incarnation + 1); err == nil {
		t.Fatal("a reply meant for another life of the caller was delivered")
	}
}

// TestIncarnationIsGossiped: every start draws a new incarnation, and the
// other members learn it.
func TestIncarnationIsGossiped(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	if a.incarnation == 0 || a.incarnation == b.incarnation {
		t.Fatalf("incarnations %d and %d: want two distinct non-zero values", a.incarnation, b.incarnation)
	}
	for _, m := range a.Members() {
		want := map[string]uint64{a.name: a.incarnation, b.name: b.incarnation}[m.Name]
		if m.Incarnation != want {
			t.Fatalf("%s sees %s in incarnation %d, want %d", a.name, m.Name, m.Incarnation, want)
		}
	}
}
