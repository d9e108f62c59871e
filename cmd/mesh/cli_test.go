package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// childEnv turns the test binary into a mesh node named by its value.
const childEnv = "MESH_CLI_TEST_NODE"

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(runNode(name))
	}
	os.Exit(m.Run())
}

// runNode runs a node offering echo, with an admin endpoint that takes
// calls, until SIGTERM. It prints "READY <gossip> <admin>" once serving.
func runNode(name string) int {
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName = name
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.AdminCalls = true
	if s := os.Getenv("MESH_CLI_TEST_SEEDS"); s != "" {
		cfg.Seeds = strings.Split(s, ",")
	}
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	err = n.RegisterCapabilities(mesh.Capability{Name: "echo", New: func(id string) mesh.Process {
		return mesh.ProcessFunc(func(ctx mesh.Context, msg proto.Message) (proto.Message, error) {
			return wrapperspb.String(name + "/" + ctx.ID() + ": " + msg.(*wrapperspb.StringValue).GetValue()), nil
		})
	}})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("READY", n.GossipAddr(), n.AdminAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Close(ctx)
	return 0
}

// node is a mesh node running as a child process.
type node struct {
	name, gossip, admin string
	cmd                 *exec.Cmd
}

func startNode(t *testing.T, name string, seeds []string) *node {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, "MESH_CLI_TEST_SEEDS="+strings.Join(seeds, ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
				ready <- f[1:]
			}
		}
	}()
	select {
	case addrs := <-ready:
		n.gossip, n.admin = addrs[0], addrs[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return n
}

// mesh runs the CLI with args and returns its exit code and output.
func cli(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// meshJSON runs the CLI with -o json, wants exit code want, and decodes
// its output into v.
func meshJSON(t *testing.T, want int, v any, args ...string) {
	t.Helper()
	code, out, errOut := cli(append(args, "-o", "json")...)
	if code != want {
		t.Fatalf("mesh %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("mesh %s: %v in %s", strings.Join(args, " "), err, out)
	}
}

// waitFor runs cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCLI runs the CLI against three nodes in their own processes: peers,
// activations made by calls, owners that agree with where the calls were
// served, pings, status degraded after a kill -9 and running after the
// restart, and the calls counted in /metrics.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OS processes")
	}
	var nodes []*node
	var seeds []string
	for i := range 3 {
		n := startNode(t, fmt.Sprintf("node-%d", i+1), seeds)
		nodes = append(nodes, n)
		seeds = append(seeds, n.gossip)
	}
	addr := "--addr=" + nodes[0].admin + "," + nodes[1].admin

	// peers: three alive members, each with its admin endpoint.
	waitFor(t, 20*time.Second, "three alive peers offering echo", func() bool {
		var ans admin.Members
		if code, out, _ := cli(addr, "peers", "-o", "json"); code != exitOK || json.Unmarshal([]byte(out), &ans) != nil {
			return false
		}
		alive := 0
		for i, m := range ans.Members {
			if m.State == "alive" && len(m.Capabilities) == 1 && m.Name == nodes[i].name && m.AdminAddr == nodes[i].admin {
				alive++
			}
		}
		return len(ans.Members) == 3 && alive == 3
	})
	code, out, _ := cli(addr, "peers")
	if code != exitOK || strings.Count(out, " alive ") != 3 {
		t.Errorf("peers: exit %d\n%s", code, out)
	}
	waitFor(t, 20*time.Second, "status running", func() bool { c, _, _ := cli(addr, "status"); return c == exitOK })

	// call: ten IDs; each reply names the node that served it.
	servedBy := map[string]string{}
	for i := range 10 {
		id := fmt.Sprintf("user-%d", i)
		var ans struct {
			Reply struct {
				Value string `json:"value"`
			} `json:"reply"`
		}
		meshJSON(t, exitOK, &ans, addr, "call", "echo", id, "--type", "google.protobuf.StringValue", "--json", `"hi"`)
		node, rest, _ := strings.Cut(ans.Reply.Value, "/")
		if rest != id+": hi" {
			t.Fatalf("call %s: reply %q", id, ans.Reply.Value)
		}
		servedBy[id] = node
	}

	// actors: the ten activations, each on the node that served it.
	var acts struct {
		Activations []nodeActivation  `json:"activations"`
		Errors      map[string]string `json:"errors"`
	}
	meshJSON(t, exitOK, &acts, addr, "actors", "--capability", "echo")
	listed := map[string]string{}
	for _, a := range acts.Activations {
		listed[a.ID] = a.Node
	}
	for id, node := range servedBy {
		if listed[id] != node {
			t.Errorf("actors lists %s on %q; it was served by %s", id, listed[id], node)
		}
	}
	if len(acts.Activations) != len(servedBy) {
		t.Errorf("actors lists %d activations, want %d", len(acts.Activations), len(servedBy))
	}
	if code, out, _ := cli(addr, "actors"); code != exitOK || strings.Count(out, "echo") != 10 {
		t.Errorf("actors (table): exit %d\n%s", code, out)
	}

	// owner: agrees with where each call was served.
	for id, node := range servedBy {
		var ans admin.Owner
		meshJSON(t, exitOK, &ans, addr, "owner", "echo", id)
		if ans.Owner != node {
			t.Errorf("owner of %s: %s; it was served by %s", id, ans.Owner, node)
		}
	}
	if code, out, _ := cli(addr, "owner", "echo", "user-1"); code != exitOK || !strings.Contains(out, "echo/user-1 is owned by "+servedBy["user-1"]) {
		t.Errorf("owner (text): exit %d\n%s", code, out)
	}

	// ping: every node answers through the mesh.
	var pings admin.Pings
	meshJSON(t, exitOK, &pings, addr, "ping")
	if len(pings.Pings) != 3 {
		t.Fatalf("ping: %d answers, want 3", len(pings.Pings))
	}
	for i, p := range pings.Pings {
		if p.Node != nodes[i].name || p.Error != "" || p.RTTMs <= 0 {
			t.Errorf("ping %d: %+v", i, p)
		}
	}
	if code, out, _ := cli(addr, "ping", "node-2"); code != exitOK || !regexp.MustCompile(`(?m)^node-2 +\d+\.\d+ms`).MatchString(out) {
		t.Errorf("ping node-2: exit %d\n%s", code, out)
	}

	// metrics: node-1 made the ten calls.
	if got := scrape(t, nodes[0].admin, `mesh_calls_total{capability="echo",outcome="ok"}`); got != 10 {
		t.Errorf("node-1 counted %v ok echo calls, want 10", got)
	}

	// status: degraded once node-3 is killed, running once it is back.
	victim := nodes[2]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var st admin.Status
	waitFor(t, 20*time.Second, "status degraded", func() bool {
		code, out, _ := cli(addr, "status", "-o", "json")
		return code == exitPartial && json.Unmarshal([]byte(out), &st) == nil
	})
	if len(st.Reasons) == 0 || st.Reasons[0].Subject != victim.name {
		t.Errorf("degraded, but not for %s: %+v", victim.name, st)
	}
	t.Logf("degraded %v after the kill: %+v", time.Since(killed).Round(time.Millisecond), st.Reasons)
	waitFor(t, 20*time.Second, victim.name+" declared failed", func() bool {
		code, out, _ := cli(addr, "status")
		return code == exitPartial && strings.Contains(out, "member_failed: "+victim.name)
	})
	if code, out, _ := cli(addr, "status"); code != exitPartial || !strings.HasPrefix(out, "degraded") {
		t.Errorf("status (text): exit %d\n%s", code, out)
	}

	restarted := time.Now()
	startNode(t, victim.name, seeds[:2])
	waitFor(t, 30*time.Second, "status running after the restart", func() bool { c, _, _ := cli(addr, "status"); return c == exitOK })
	t.Logf("running %v after the restart", time.Since(restarted).Round(time.Millisecond))
}

// scrape returns the value of the sample named by series (name and labels
// as /metrics writes them) on the admin endpoint addr.
func scrape(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics of %s has no %s", addr, series)
	return 0
}

// TestUsage: help succeeds; bad commands, arguments and flags are usage
// errors; an unreachable endpoint is a failure.
func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"--help"}, exitOK},
		{[]string{"owner", "--help"}, exitOK},
		{[]string{}, exitOK},
		{[]string{"nope"}, exitUsage},
		{[]string{"owner", "echo"}, exitUsage},
		{[]string{"peers", "extra"}, exitUsage},
		{[]string{"peers", "-o", "yaml"}, exitUsage},
		{[]string{"peers", "--bogus"}, exitUsage},
		{[]string{"call", "echo", "a"}, exitUsage},
		{[]string{"call", "echo", "a", "--json", "{"}, exitUsage},
		{[]string{"--addr", "127.0.0.1:1", "--timeout", "1s", "status"}, exitFailure},
	} {
		if code, out, errOut := cli(tt.args...); code != tt.want {
			t.Errorf("mesh %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.want, out, errOut)
		}
	}
}
