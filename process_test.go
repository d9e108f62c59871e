package mesh_test

// Tests about processes: nodes as separate OS processes that are killed
// with SIGKILL and restarted.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrun/mesh"
)

// childEnv names the environment variable that turns the test binary into
// a mesh node: its value is the node name.
const childEnv = "MESH_TEST_CHILD"

// runChild runs one node offering echo, tally and counter until SIGTERM,
// then closes it (CloseOnSignal, within 10 s). It prints "READY <gossip
// address> <admin address>" once serving, and "CLOSED ok" or "CLOSED
// <error>" once closed.
// MESH_TEST_SEEDS, MESH_TEST_GOSSIP and MESH_TEST_REMOTE set its seeds and
// addresses.
func runChild(name string) {
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = name
	if s := os.Getenv("MESH_TEST_SEEDS"); s != "" {
		cfg.Seeds = strings.Split(s, ",")
	}
	if g := os.Getenv("MESH_TEST_GOSSIP"); g != "" {
		cfg.GossipAddr = g
	}
	if r := os.Getenv("MESH_TEST_REMOTE"); r != "" {
		cfg.RemoteAddr = r
	}
	cfg.AdminAddr = "127.0.0.1:0"
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if err := n.RegisterCapabilities(echo(name), tally(name), counters); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY", n.GossipAddr(), n.AdminAddr())
	result := "ok"
	if err := n.CloseOnSignal(context.Background(), 10*time.Second); err != nil {
		result = err.Error()
	}
	fmt.Println("CLOSED", result)
	os.Exit(0)
}

// child is a node running in its own OS process.
type child struct {
	name   string
	gossip string
	admin  string
	cmd    *exec.Cmd
	// closed receives what the node printed after CLOSED.
	closed chan string
}

// startChild starts the test binary as node name, seeded with seeds, and
// waits for it to serve. gossip may fix its gossip address ("" for a free
// port).
func startChild(t *testing.T, name, gossip string, seeds []string) *child {
	t.Helper()
	return startChildAt(t, name, gossip, "", seeds)
}

// startChildAt is startChild with the remote address fixed too ("" for a
// free port).
func startChildAt(t *testing.T, name, gossip, remote string, seeds []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name,
		"MESH_TEST_SEEDS="+strings.Join(seeds, ","), "MESH_TEST_GOSSIP="+gossip, "MESH_TEST_REMOTE="+remote)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, closed: make(chan string, 1)}
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addrs, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- addrs
			}
			if result, ok := strings.CutPrefix(sc.Text(), "CLOSED "); ok {
				c.closed <- result
			}
		}
	}()
	select {
	case addrs := <-ready:
		c.gossip, c.admin, _ = strings.Cut(addrs, " ")
	case <-time.After(20 * time.Second):
		t.Fatalf("child %s did not become ready", name)
	}
	return c
}

// stop sends SIGTERM, which closes the node gracefully, and waits for the
// process to end; it returns how long that took.
func (c *child) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop %s: %v", c.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited with %v", c.name, err)
		}
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		t.Fatalf("%s did not exit within 30 s of SIGTERM", c.name)
	}
	return time.Since(start)
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", c.name, err)
	}
	_ = c.cmd.Wait()
}

// TestCrashAndRestart kills one of three node processes with SIGKILL while
// a client calls IDs on all of them. Calls to the dead node's shards must
// fail with a typed error by their deadline, never hang, until failure
// detection moves the shards; then they succeed on the new owners. The node
// is then restarted under the same name and must be back within seconds.
func TestCrashAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OS processes")
	}
	var seeds []string
	var children []*child
	for i := range 3 {
		c := startChild(t, fmt.Sprintf("node-%d", i+1), "", seeds)
		children = append(children, c)
		seeds = append(seeds, c.gossip)
	}
	client := startNode(t, "client", seeds)
	waitOffering(t, client, "echo", 3)

	victim := children[1]
	var victimIDs []string
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("actor_%d", i)
		if p, err := client.Locate("echo", ids[i]); err == nil && p.Owner == victim.name {
			victimIDs = append(victimIDs, ids[i])
		}
	}
	if len(victimIDs) == 0 {
		t.Fatal("the victim owns none of the IDs")
	}
	for _, id := range victimIDs {
		call(t, client, "echo", id, "warm") // cache the remote PIDs
	}

	const timeout = 400 * time.Millisecond
	killed := time.Now()
	victim.kill(t)
	var failures, hung int
	recovered := make(map[string]time.Duration)
	for len(recovered) < len(victimIDs) && time.Since(killed) < 30*time.Second {
		for _, id := range victimIDs {
			if _, ok := recovered[id]; ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			start := time.Now()
			reply, err := client.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: wrapString("after")})
			took := time.Since(start)
			cancel()
			if took > timeout+250*time.Millisecond {
				hung++
				t.Errorf("call to %s took %v with a %v deadline", id, took, timeout)
			}
			if err != nil {
				failures++
				if !errors.Is(err, mesh.ErrDeadlineExceeded) && !errors.Is(err, mesh.ErrUnreachable) {
					t.Fatalf("call to %s failed with an untyped error: %v", id, err)
				}
				continue
			}
			if owner := servedBy(reply); owner == victim.name {
				t.Fatalf("%s answered from the killed node", id)
			}
			recovered[id] = time.Since(killed)
		}
	}
	if len(recovered) < len(victimIDs) {
		t.Fatalf("%d of %d IDs of the killed node never answered again", len(victimIDs)-len(recovered), len(victimIDs))
	}
	first, last := 30*time.Second, time.Duration(0)
	for _, d := range recovered {
		first, last = min(first, d), max(last, d)
	}
	t.Logf("kill -9 of %s: %d IDs; %d calls failed with typed errors meanwhile, none hung; "+
		"time to recovery: first ID %v, all IDs %v", victim.name, len(victimIDs), failures, first.Round(time.Millisecond), last.Round(time.Millisecond))

	// Every ID of the other nodes kept answering.
	for _, id := range ids {
		call(t, client, "echo", id, "others")
	}

	restarted := time.Now()
	startChild(t, victim.name, "", []string{children[0].gossip, children[2].gossip})
	waitOffering(t, client, "echo", 3)
	t.Logf("restarted %s under the same name: back in the client's view after %v", victim.name, time.Since(restarted).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "shards to return to the restarted node", func() bool {
		for _, id := range victimIDs {
			if servedBy(mustCall(client, id)) != victim.name {
				return false
			}
		}
		return true
	})
}

// waitOffering waits until n sees want members offering capability.
func waitOffering(t *testing.T, n *mesh.Node, capability string, want int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d members offering %s", want, capability), func() bool {
		offering := map[string]bool{}
		for _, m := range n.Members() {
			if slices.Contains(m.Capabilities, capability) && !m.Draining {
				offering[m.Name] = true
			}
		}
		if len(offering) != want {
			return false
		}
		// The routing snapshot follows the member list after a debounce.
		owners := map[string]bool{}
		for i := range 200 {
			p, err := n.Locate(capability, fmt.Sprint("probe-", i))
			if err != nil || !offering[p.Owner] {
				return false
			}
			owners[p.Owner] = true
		}
		return len(owners) == want
	})
}
