package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/store"
)

// The environment of a node process: childEnv names it; the others give
// its seeds and save mode.
const (
	childEnv = "MESH_CRASHTEST_NODE"
	seedsEnv = "MESH_CRASHTEST_SEEDS"
	saveEnv  = "MESH_CRASHTEST_SAVE"
)

// Serve makes this process a node, when a test started it as one with
// Start, and then never returns: the node offers Counters over the store
// open makes, prints "READY <gossip address>" once it serves, and closes
// on SIGTERM. In any other process Serve returns at once. A test binary
// calls it first in its TestMain.
func Serve(open func() (store.Store, error)) {
	name := os.Getenv(childEnv)
	if name == "" {
		return
	}
	fail := func(err error) {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	mode := mesh.SaveOnStop
	if os.Getenv(saveEnv) == mesh.SaveOnChange.String() {
		mode = mesh.SaveOnChange
	}
	st, err := open()
	if err != nil {
		fail(err)
	}
	cfg := mesh.DefaultLocalConfig()
	cfg.NodeName, cfg.Store = name, st
	if s := os.Getenv(seedsEnv); s != "" {
		cfg.Seeds = strings.Split(s, ",")
	}
	n, err := mesh.Start(context.Background(), cfg)
	if err != nil {
		fail(err)
	}
	if err := n.RegisterCapabilities(Counters(mode)); err != nil {
		fail(err)
	}
	fmt.Println("READY", n.GossipAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = n.Close(ctx)
	_ = st.Close()
	os.Exit(0)
}

// Proc is a node running in an OS process of its own.
type Proc struct {
	Name string
	// Gossip is the node's gossip address.
	Gossip string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start runs the test binary as node name (see Serve), saving in mode,
// seeded with seeds, with env added to its environment; it returns once
// the node serves. The process is killed when the test ends.
func Start(t testing.TB, name string, mode mesh.SaveMode, seeds []string, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, seedsEnv+"="+strings.Join(seeds, ","), saveEnv+"="+mode.String())
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := strings.CutPrefix(line, "READY "); ok {
				ready <- addr
			} else if strings.HasPrefix(line, "ERROR ") {
				ready <- line
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(p.Kill)
	select {
	case addr := <-ready:
		if strings.HasPrefix(addr, "ERROR ") {
			t.Fatalf("node %s: %s", name, addr)
		}
		p.Gossip = addr
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s did not serve within 30 s", name)
	}
	return p
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop ends the process with SIGTERM, which closes its node gracefully,
// and waits up to 30 s for it (then kills it).
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
	}
}
