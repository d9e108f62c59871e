package mesh_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// silentSeed listens on loopback and accepts connections without ever
// answering, as a seed whose process hangs does; it is closed when the test
// ends.
func silentSeed(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestStartHonoursContext: a ctx that has ended, or that ends while Start
// waits on seeds that accept connections and never answer, ends Start
// with ErrStart and ctx's error, and nothing of the node is left running
// (the package's leak check covers goroutines).
func TestStartHonoursContext(t *testing.T) {
	lan := func() mesh.Config {
		// LAN timings: memberlist would wait 10 s for each silent seed.
		cfg := mesh.DefaultLANConfig()
		cfg.NodeName = "starter"
		cfg.GossipAddr, cfg.RemoteAddr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Logger = testLogger(t)
		return cfg
	}
	t.Run("ended before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := mesh.Start(ctx, lan())
		if err == nil {
			_ = n.Close(context.Background())
		}
		if !errors.Is(err, mesh.ErrStart) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Start with a canceled ctx: %v; want ErrStart and context.Canceled", err)
		}
	})
	t.Run("ends while joining", func(t *testing.T) {
		cfg := lan()
		cfg.Seeds = []string{silentSeed(t), silentSeed(t)}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		n, err := mesh.Start(ctx, cfg)
		took := time.Since(start)
		if err == nil {
			_ = n.Close(context.Background())
		}
		if !errors.Is(err, mesh.ErrStart) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start against silent seeds: %v after %v; want ErrStart and context.DeadlineExceeded", err, took)
		}
		// Bounded by ctx, not by memberlist's 10 s per seed.
		if took > 3*time.Second {
			t.Fatalf("Start returned %v after a 300 ms ctx", took)
		}
		t.Logf("Start against two silent seeds with a 300 ms ctx returned after %v", took.Round(time.Millisecond))
	})
}

// TestCloseHonoursContext: Close with a ctx that has ended, or that ends
// during a long drain, stops the node hard, says so with
// ErrDrainIncomplete and ctx's error, and the node is closed all the same.
func TestCloseHonoursContext(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration // 0: canceled before Close
		want    error
	}{
		{"canceled before", 0, context.Canceled},
		{"expires during the drain", 100 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			long := func(c *mesh.Config) { c.DrainTimeout = 10 * time.Second }
			a := startNodeWith(t, "stays", nil, nil, echo("stays"))
			b := startNodeWith(t, "leaves", []string{a.GossipAddr()}, long, echo("leaves"))
			waitConverged(t, a, b)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.timeout > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.timeout)
			} else {
				cancel()
			}
			defer cancel()
			start := time.Now()
			err := b.Close(ctx)
			took := time.Since(start)
			if !errors.Is(err, mesh.ErrDrainIncomplete) || !errors.Is(err, tc.want) {
				t.Fatalf("Close: %v; want ErrDrainIncomplete and %v", err, tc.want)
			}
			if took > 3*time.Second {
				t.Fatalf("Close took %v with a drain of 10 s and a ctx of %v", took, tc.timeout)
			}
			if _, err := b.Call(context.Background(), mesh.Request{Capability: "echo", ID: "x", Payload: wrapString("x")}); !errors.Is(err, mesh.ErrClosed) {
				t.Fatalf("Call after a hard Close: %v; want ErrClosed", err)
			}
			// The peer learns of the leave and routes around the node.
			waitFor(t, 10*time.Second, "the peer to see the node gone", func() bool { return len(a.Members()) == 1 })
			call(t, a, "echo", "after", "x")
			t.Logf("Close with a %v ctx and a 10 s drain returned after %v", tc.timeout, took.Round(time.Millisecond))
		})
	}
}
