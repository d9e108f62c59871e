package mesh_test

// A real network partition: three node processes, each in a network
// namespace of its own, joined by a bridge in another; the test cuts one
// node's link and puts it back.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// netnsChildEnv names the environment variable that turns the test binary
// into a node of TestRealPartition: its value is the node name.
// MESH_TEST_GOSSIP, MESH_TEST_REMOTE and MESH_TEST_SEEDS give its
// addresses and seeds.
const netnsChildEnv = "MESH_TEST_NETNS_CHILD"

// netnsPrefix begins the name of every namespace the test makes, followed
// by the test process's PID: a run removes the namespaces of runs whose
// process is gone.
const netnsPrefix = "meshpt"

// runNetnsChild runs one node offering counter (a grow-only counter that
// merges, mergingCounter), with the partition policy MESH_TEST_POLICY
// names (the default if none), and answers commands on
// its standard input, one per line, until it closes:
//
//	inc ID    increments counter ID from this node: "OK n" or "ERR kind message"
//	get ID    reads it
//	members   "MEMBERS n": the members this node sees
//	acts      "ACTS id,id,...": the IDs active on this node
//
// kind is noquorum for ErrNoQuorum, other for any other error.
func runNetnsChild(name string) {
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = name
	cfg.GossipAddr = os.Getenv("MESH_TEST_GOSSIP")
	cfg.RemoteAddr = os.Getenv("MESH_TEST_REMOTE")
	cfg.Seeds = strings.Split(os.Getenv("MESH_TEST_SEEDS"), ",")
	if os.Getenv("MESH_TEST_POLICY") == mesh.PartitionAvailability.String() {
		cfg.Partition = mesh.PartitionAvailability
	}
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	merging := mesh.Capability{Name: "counter", New: func(string) mesh.Process { return mergingCounter{newGCounter()} }}
	if err := n.RegisterCapabilities(merging); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "inc", "get":
			req := mesh.Request{Capability: "counter", ID: arg, Payload: wrapString("get")}
			if cmd == "inc" {
				req.Payload = wrapperspb.Int64(1)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			reply, err := n.Call(ctx, req)
			cancel()
			switch {
			case errors.Is(err, mesh.ErrNoQuorum):
				fmt.Println("ERR noquorum", oneLine(err))
			case err != nil:
				fmt.Println("ERR other", oneLine(err))
			default:
				fmt.Println("OK", reply.(*wrapperspb.Int64Value).GetValue())
			}
		case "members":
			fmt.Println("MEMBERS", len(n.Members()))
		case "acts":
			var ids []string
			for _, a := range n.Activations() {
				ids = append(ids, a.ID)
			}
			fmt.Println("ACTS", strings.Join(ids, ","))
		default:
			fmt.Println("ERR other unknown command", cmd)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Close(ctx)
	os.Exit(0)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// nsNode is a node process in a namespace of its own, driven through its
// standard input and output.
type nsNode struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// ask sends one command and returns the answer line.
func (n *nsNode) ask(t *testing.T, cmd string) string {
	t.Helper()
	if _, err := fmt.Fprintln(n.in, cmd); err != nil {
		t.Fatalf("%s: %s: %v", n.name, cmd, err)
	}
	return n.line(t, cmd, 10*time.Second)
}

// line returns the node's next line of output; it fails t if none comes
// within timeout.
func (n *nsNode) line(t *testing.T, what string, timeout time.Duration) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		if n.out.Scan() {
			line <- n.out.Text()
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatalf("%s: %s: the node's output ended", n.name, what)
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("%s: %s: no answer within %v", n.name, what, timeout)
		return ""
	}
}

func (n *nsNode) members(t *testing.T) int {
	t.Helper()
	v, _ := strconv.Atoi(strings.TrimPrefix(n.ask(t, "members"), "MEMBERS "))
	return v
}

func (n *nsNode) acts(t *testing.T) []string {
	t.Helper()
	s := strings.TrimPrefix(n.ask(t, "acts"), "ACTS")
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// ip runs ip(8) with args and fails t with its output if it fails.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// removeStaleNamespaces deletes the namespaces of earlier runs whose test
// process is gone.
func removeStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Skipf("ip netns list: %v", err)
	}
	re := regexp.MustCompile(`^` + netnsPrefix + `(\d+)-\S+`)
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // ours, or a run still going
		}
		if out, err := exec.Command("ip", "netns", "del", m[0]).CombinedOutput(); err != nil {
			t.Logf("remove stale namespace %s: %v: %s", m[0], err, out)
		}
	}
}

// netnsCluster is three node processes, each in a network namespace of
// its own with one link to a bridge in another namespace.
type netnsCluster struct {
	nodes []*nsNode
	hub   string
}

// cut takes node i's link down (its port on the bridge), heal puts it
// back.
func (c *netnsCluster) cut(t *testing.T, i int) {
	ip(t, "-n", c.hub, "link", "set", fmt.Sprintf("v%d", i+1), "down")
}

func (c *netnsCluster) heal(t *testing.T, i int) {
	ip(t, "-n", c.hub, "link", "set", fmt.Sprintf("v%d", i+1), "up")
}

// allSee waits, up to limit, until every node sees want members.
func (c *netnsCluster) allSee(t *testing.T, limit time.Duration, want int) {
	t.Helper()
	waitFor(t, limit, fmt.Sprintf("%d members in every view", want), func() bool {
		for _, n := range c.nodes {
			if n.members(t) != want {
				return false
			}
		}
		return true
	})
}

// oneActivationEach waits, up to limit, until no ID is active on two of
// the nodes.
func (c *netnsCluster) oneActivationEach(t *testing.T, limit time.Duration) {
	t.Helper()
	var dup string
	waitFor(t, limit, "one activation per ID", func() bool {
		where := map[string]string{}
		for _, n := range c.nodes {
			for _, id := range n.acts(t) {
				if other, ok := where[id]; ok {
					dup = fmt.Sprintf("%s on %s and %s", id, other, n.name)
					return false
				}
				where[id] = n.name
			}
		}
		return true
	})
	if t.Failed() {
		t.Logf("last duplicate: %s", dup)
	}
}

// startNetnsCluster makes the namespaces, the bridge and the links, with
// addresses in 10.231.0.0/24 used only inside them, starts a node in each
// namespace with policy and waits until they form one cluster. Everything
// it makes is deleted when the test ends. It skips the test unless it
// runs as root with ip(8).
func startNetnsCluster(t *testing.T, policy mesh.PartitionPolicy) *netnsCluster {
	if testing.Short() {
		t.Skip("starts OS processes in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	removeStaleNamespaces(t)
	prefix := fmt.Sprintf("%s%d-", netnsPrefix, os.Getpid())
	c := &netnsCluster{hub: prefix + "hub"}
	if out, err := exec.Command("ip", "netns", "add", c.hub).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	spaces := []string{c.hub}
	t.Cleanup(func() {
		for _, ns := range spaces {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("delete namespace %s: %v: %s", ns, err, out)
			}
		}
	})
	ip(t, "-n", c.hub, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	ip(t, "-n", c.hub, "link", "set", "br0", "up")

	const nodes = 3
	addr := func(i int) string { return fmt.Sprintf("10.231.0.%d", 11+i) }
	var seeds []string
	for i := range nodes {
		seeds = append(seeds, addr(i)+":7946")
	}
	for i := range nodes {
		space := fmt.Sprintf("%sn%d", prefix, i+1)
		ip(t, "netns", "add", space)
		spaces = append(spaces, space)
		port := fmt.Sprintf("v%d", i+1)
		ip(t, "-n", c.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", space)
		ip(t, "-n", c.hub, "link", "set", port, "master", "br0")
		ip(t, "-n", c.hub, "link", "set", port, "up")
		ip(t, "-n", space, "addr", "add", addr(i)+"/24", "dev", "eth0")
		ip(t, "-n", space, "link", "set", "eth0", "up")
		ip(t, "-n", space, "link", "set", "lo", "up")
		c.nodes = append(c.nodes, startNsNode(t, fmt.Sprintf("node-%d", i+1), space, addr(i), seeds, policy))
	}
	c.allSee(t, 30*time.Second, nodes)
	return c
}

// TestRealPartition cuts one of three node processes off the network
// (its link to the bridge goes down) and puts it back, with the default
// partition policy. The cut-off node refuses calls with ErrNoQuorum once
// it sees it has lost its majority, and holds no activation; the majority
// serves every ID; after the heal each ID is active on one node, and
// every increment acknowledged since the split is counted, read from the
// node that was cut off. It needs root and ip(8), and makes its own
// namespaces, all deleted when it ends.
func TestRealPartition(t *testing.T) {
	c := startNetnsCluster(t, mesh.PartitionMajority)
	near, far := c.nodes[0], c.nodes[2]

	c.cut(t, 2)
	cut := time.Now()
	waitFor(t, 60*time.Second, "the majority to see the far node gone", func() bool { return near.members(t) == 2 })
	majoritySaw := time.Since(cut)
	waitFor(t, 60*time.Second, "the far node to refuse with ErrNoQuorum", func() bool {
		return strings.HasPrefix(far.ask(t, "get g-0"), "ERR noquorum")
	})
	minorityStopped := time.Since(cut)
	t.Logf("cut: the majority saw the far node gone after %v; the far node refused calls (ErrNoQuorum) after %v",
		majoritySaw.Round(time.Millisecond), minorityStopped.Round(time.Millisecond))

	const ids, rounds = 60, 3
	acked := make([]int64, ids)
	for range rounds {
		for i := range ids {
			id := fmt.Sprint("g-", i)
			if got := near.ask(t, "inc "+id); !strings.HasPrefix(got, "OK ") {
				t.Fatalf("increment %s on the majority: %s", id, got)
			}
			acked[i]++
			if got := far.ask(t, "inc "+id); !strings.HasPrefix(got, "ERR noquorum") {
				t.Fatalf("increment %s on the cut-off node: %s, want ErrNoQuorum", id, got)
			}
		}
	}
	if acts := far.acts(t); len(acts) != 0 {
		t.Errorf("the cut-off node holds %d activations", len(acts))
	}

	c.heal(t, 2)
	healed := time.Now()
	c.allSee(t, 60*time.Second, 3)
	waitFor(t, 10*time.Second, "the far node to serve again", func() bool {
		return !strings.HasPrefix(far.ask(t, "get g-0"), "ERR")
	})
	merged := time.Since(healed)
	// A read may fail for a moment while the far node's connections to
	// the others come back (its transport redials with a backoff): it is
	// asked again, for a bounded time. A value, once read, must count
	// every acknowledged increment.
	readUntil := time.Now().Add(20 * time.Second)
	for i := range ids {
		id := fmt.Sprint("g-", i)
		got := far.ask(t, "get "+id)
		for strings.HasPrefix(got, "ERR other") && time.Now().Before(readUntil) {
			time.Sleep(100 * time.Millisecond)
			got = far.ask(t, "get "+id)
		}
		if want := fmt.Sprint("OK ", acked[i]); got != want {
			t.Errorf("%s read from the node that was cut off: %q, want %q", id, got, want)
		}
	}
	c.oneActivationEach(t, 30*time.Second)
	t.Logf("heal: every node saw all three and the far node served again after %v; one activation per ID %v after the heal",
		merged.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
}

// TestRealPartitionAvailability is TestRealPartition with the
// availability policy: both sides serve every ID during the split, and
// after the heal the counters (grow-only, actor.Merger) hold every
// increment acknowledged on either side, before and during the split,
// with one activation per ID.
func TestRealPartitionAvailability(t *testing.T) {
	c := startNetnsCluster(t, mesh.PartitionAvailability)
	near, far := c.nodes[0], c.nodes[2]
	const ids, rounds = 60, 3
	acked := make([]int64, ids)
	inc := func(n *nsNode, i int) {
		t.Helper()
		id := fmt.Sprint("g-", i)
		if got := n.ask(t, "inc "+id); !strings.HasPrefix(got, "OK ") {
			t.Fatalf("increment %s on %s: %s", id, n.name, got)
		}
		acked[i]++
	}
	for i := range ids {
		inc(near, i)
	}

	c.cut(t, 2)
	cut := time.Now()
	waitFor(t, 60*time.Second, "both sides to see the split", func() bool { return near.members(t) == 2 && far.members(t) == 1 })
	t.Logf("cut: both sides saw the split after %v", time.Since(cut).Round(time.Millisecond))
	for range rounds {
		for i := range ids {
			inc(near, i)
			inc(far, i)
		}
	}

	c.heal(t, 2)
	healed := time.Now()
	c.allSee(t, 60*time.Second, 3)
	seen := time.Since(healed)
	// The states of the side that no longer owns an ID arrive and are
	// merged a moment after the views agree.
	var wrong string
	waitFor(t, 30*time.Second, "every count to hold both sides' increments", func() bool {
		for i := range ids {
			id := fmt.Sprint("g-", i)
			if got, want := far.ask(t, "get "+id), fmt.Sprint("OK ", acked[i]); got != want {
				wrong = fmt.Sprintf("%s: %q, want %q", id, got, want)
				return false
			}
		}
		return true
	})
	if t.Failed() {
		t.Logf("last wrong count: %s", wrong)
	}
	merged := time.Since(healed)
	c.oneActivationEach(t, 30*time.Second)
	t.Logf("heal: every node saw all three after %v; every count merged %v and one activation per ID %v after the heal",
		seen.Round(time.Millisecond), merged.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
}

// startNsNode starts the test binary as node name in namespace space,
// gossiping and listening on host with policy, and waits until it serves.
func startNsNode(t *testing.T, name, space, host string, seeds []string, policy mesh.PartitionPolicy) *nsNode {
	t.Helper()
	var others []string
	for _, s := range seeds {
		if !strings.HasPrefix(s, host+":") {
			others = append(others, s)
		}
	}
	cmd := exec.Command("ip", "netns", "exec", space, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+name,
		"MESH_TEST_GOSSIP="+host+":7946", "MESH_TEST_REMOTE="+host+":7947", "MESH_TEST_SEEDS="+strings.Join(others, ","), "MESH_TEST_POLICY="+policy.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	n := &nsNode{name: name, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	// Registered after the namespaces' cleanup, so it runs first: the
	// node closes when its input does, and is killed if it does not
	// within 10 s.
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if got := n.line(t, "start", 30*time.Second); got != "READY" {
		t.Fatalf("%s did not start: %s", name, got)
	}
	return n
}
