package main

// The control protocol between the benchmark driver and its node
// processes. The driver starts every node as a child process running this
// same binary (roleEnv set), writes one JSON command per line to the
// child's stdin and reads one JSON reply per line from the child's fd 3.
// The child handles commands concurrently and tags replies with the
// command's sequence number; it exits when its stdin closes, so a dead
// driver never leaves nodes behind.
//
// A workload's load runs in one node process, the caller: "prepare" hands
// it the spec, one "phase" command runs each phase, "finish" ends it.
// Around every timed phase the driver sends "cpu" to each other node
// process, so that CPU time is counted over the whole cluster (runSpec).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// roleEnv, when set to "node" in a process's environment, makes it a node
// process driven over the control protocol instead of the driver.
const roleEnv = "MESHBENCH_ROLE"

// The contenders, in the order of the report's columns.
const (
	meshC   = "mesh"     // the mesh package holds the name
	meshTLS = "mesh+tls" // mesh with mutual TLS between nodes
	ceiling = "ceiling"  // the fair ceiling: mesh's machinery without mesh
	futures = "rf"       // raw protoactor with RequestFuture
	wireC   = "wire"     // the wire limit: raw gRPC streams, no actors
	peer    = "peer"     // protoactor-go's cluster package
)

// contenders are every workload's contenders in column order: the save
// contenders (meshSave, meshSavePG) after mesh's, S's stores last.
var contenders = append([]string{meshC, meshTLS, meshSave, meshSavePG, ceiling, futures, wireC, peer}, stores...)

// command is one request from the driver to a node process.
type command struct {
	Seq int64  `json:"seq"`
	Op  string `json:"op"`

	Start *startArgs `json:"start,omitempty"`
	Await *awaitArgs `json:"await,omitempty"`
	Run   *spec      `json:"run,omitempty"`
	Load  *loadArgs  `json:"load,omitempty"`

	// IDs and Kind name the processes of "where".
	IDs  []string `json:"ids,omitempty"`
	Kind string   `json:"kind,omitempty"`
	// Query, if set, is the payload "where" sends instead of whereQuery
	// (mesh only); the answers come back in Owners.
	Query string `json:"query,omitempty"`
	// Path is the file of "profile".
	Path string `json:"path,omitempty"`
	// Graceful selects a graceful "close".
	Graceful bool `json:"graceful,omitempty"`
	// Phase is the index, in the spec of the last "prepare", of the
	// phase "phase" runs.
	Phase int `json:"phase,omitempty"`
}

// reply answers one command.
type reply struct {
	Seq int64  `json:"seq"`
	Err string `json:"err,omitempty"`

	Info   *nodeInfo     `json:"info,omitempty"`
	Phases []phaseResult `json:"phases,omitempty"`
	// Owners answers "where" (the node that served each ID, "" on error)
	// and "shards" (the owner of every shard).
	Owners []string     `json:"owners,omitempty"`
	Count  int          `json:"count,omitempty"`
	Load   *loadSummary `json:"load,omitempty"`
	// CPU answers "cpu": the node process's CPU time so far, user and
	// system (getrusage RUSAGE_SELF), in nanoseconds.
	CPU int64 `json:"cpu_ns,omitempty"`
	// Handoffs answers "handoffs" and a graceful "close" of a mesh node
	// offering counterKind: the states it handed off since last asked.
	Handoffs *handoffStats `json:"handoffs,omitempty"`
}

// startArgs configures a node.
type startArgs struct {
	Contender string   `json:"contender"`
	Name      string   `json:"name"`
	Kinds     []string `json:"kinds"`
	// Seeds are mesh gossip addresses to join.
	Seeds []string `json:"seeds,omitempty"`
	// AutoPort is this peer node's automanaged HTTP port and AutoHosts
	// every peer node's, itself included; empty for a single-node peer,
	// which uses protoactor's in-memory test provider.
	AutoPort  int      `json:"auto_port,omitempty"`
	AutoHosts []string `json:"auto_hosts,omitempty"`
	// TLSDir holds ca.crt and NAME.crt, NAME.key for every node name:
	// mesh+TLS's throwaway certificates.
	TLSDir string `json:"tls_dir,omitempty"`
	// Store is the store of a contender that saves on change, shared by
	// every node process of the run.
	Store *storeArgs `json:"store,omitempty"`
}

// nodeInfo describes a started node.
type nodeInfo struct {
	Gossip string `json:"gossip,omitempty"`
	Remote string `json:"remote"`
}

// awaitArgs is the cluster a node waits to see.
type awaitArgs struct {
	Members int `json:"members"`
	// Offering is how many members offer each kind.
	Offering map[string]int `json:"offering,omitempty"`
	Timeout  float64        `json:"timeout_s"`
}

// loadArgs configures a background load (R1, R2): Callers goroutines call
// IDs round robin with the "where" payload, each call bounded by Timeout,
// pausing Pause between calls, for at most Limit.
type loadArgs struct {
	IDs     []string `json:"ids"`
	Kind    string   `json:"kind"`
	Callers int      `json:"callers"`
	Timeout float64  `json:"timeout_s"`
	Pause   float64  `json:"pause_s"`
	Limit   float64  `json:"limit_s"`
	// Since (Unix ns) and Victim select what "loadStop" summarises:
	// calls that ended after Since, and the first success after Since
	// of an ID Victim served before, answered by another node.
	Since  int64    `json:"since,omitempty"`
	Victim string   `json:"victim,omitempty"`
	Owners []string `json:"owners,omitempty"`
}

// loadSummary is what a background load saw after Since.
type loadSummary struct {
	Calls    int    `json:"calls"`
	Failed   int    `json:"failed"`
	FirstErr string `json:"first_err,omitempty"`
	// FirstOK is the time from Since to the first success, served by
	// another node, of an ID the victim owned; AllOK to the moment every
	// such ID had one. Negative when it did not happen.
	FirstOK float64 `json:"first_ok_s"`
	AllOK   float64 `json:"all_ok_s"`
	// MaxLatency is the slowest call that ended after Since.
	MaxLatency float64 `json:"max_latency_s"`
}

// child is a node process seen from the driver.
type child struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	log  string

	mu      sync.Mutex // guards seq, pending, dead
	seq     int64
	pending map[int64]chan reply
	dead    error
	done    chan struct{}
}

// errChildGone reports a node process that exited or was killed.
var errChildGone = errors.New("node process gone")

// spawn starts exe as a node process named name; its output goes to the
// file logPath.
func spawn(exe, name, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"=node", "MESHBENCH_NAME="+name)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	in, err := cmd.StdinPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start node %s: %w", name, err)
	}
	pw.Close()
	c := &child{name: name, cmd: cmd, in: in, log: logPath, pending: map[int64]chan reply{}, done: make(chan struct{})}
	go c.read(pr)
	return c, nil
}

func (c *child) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var rep reply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			continue
		}
		c.mu.Lock()
		ch := c.pending[rep.Seq]
		delete(c.pending, rep.Seq)
		c.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
	err := c.cmd.Wait()
	c.mu.Lock()
	c.dead = fmt.Errorf("%w: %s (%v)", errChildGone, c.name, err)
	for seq, ch := range c.pending {
		ch <- reply{Seq: seq, Err: c.dead.Error()}
		delete(c.pending, seq)
	}
	c.mu.Unlock()
	close(c.done)
}

// do sends cmd and waits at most timeout for its reply.
func (c *child) do(cmd command, timeout time.Duration) (reply, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return reply{}, c.dead
	}
	c.seq++
	cmd.Seq = c.seq
	c.pending[cmd.Seq] = ch
	c.mu.Unlock()
	line, err := json.Marshal(cmd)
	if err != nil {
		return reply{}, err
	}
	if _, err := c.in.Write(append(line, '\n')); err != nil {
		return reply{}, fmt.Errorf("%s: send %s: %w", c.name, cmd.Op, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case rep := <-ch:
		if rep.Err != "" {
			return rep, fmt.Errorf("%s: %s: %s", c.name, cmd.Op, rep.Err)
		}
		return rep, nil
	case <-t.C:
		c.mu.Lock()
		delete(c.pending, cmd.Seq)
		c.mu.Unlock()
		return reply{}, fmt.Errorf("%s: %s: no reply within %v", c.name, cmd.Op, timeout)
	}
}

// kill ends the process with SIGKILL and waits for it.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// stop asks the process to exit (closing stdin) and kills it if it has not
// within grace.
func (c *child) stop(grace time.Duration) {
	_ = c.in.Close()
	select {
	case <-c.done:
	case <-time.After(grace):
		c.kill()
	}
}

// logTail returns the end of the process's output, for error reports.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
