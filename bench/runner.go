package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// result is one run of one workload by one contender.
type result struct {
	Workload  string `json:"workload"`
	Contender string `json:"contender"`
	Round     int    `json:"round"`
	// Phases are the timed phases, by name.
	Phases map[string]phaseResult `json:"phases,omitempty"`
	// Values are figures that are not phases (R1, R2).
	Values map[string]float64 `json:"values,omitempty"`
	Err    string             `json:"err,omitempty"`
	// Notes are remarks of the run, such as the first error of a load.
	Notes []string `json:"notes,omitempty"`
	// Load is the machine's 1-minute load average when the run began.
	Load float64 `json:"load"`
}

// loadAverage reads the 1-minute load average; 0 where there is none.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscanf(string(b), "%g", &l)
	return l
}

// runner runs workloads in node processes.
type runner struct {
	exe string // the binary to start as node processes
	tmp string // node logs
	p   params
	out io.Writer

	start time.Time
	seq   int

	// places caches mesh's placement of the IDs over clusters of each
	// node count (see placement).
	places map[int][]int
	// certDir holds mesh+TLS's throwaway CA and node certificates, once
	// made.
	certDir string
	// pgURL is the PostgreSQL database of the runs that need one
	// (postgresEnv); "" when there is none.
	pgURL string
}

// placement returns, for IDs 0 to ids-1, the index of the node that mesh's
// ring places each on in a cluster of n echo nodes (the node names are
// the same in every cluster of n, and the ring places by name): the
// contenders that place IDs themselves place them the same way, so that
// every contender serves the same IDs on the calling node. It starts a
// mesh cluster once per node count to learn it.
func (r *runner) placement(n, ids int) ([]int, error) {
	if p, ok := r.places[n]; ok && len(p) >= ids {
		return p, nil
	}
	cl, err := r.startCluster(meshC, echoNodes(n), 0)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	p, err := cl.locate(ids)
	if err != nil {
		return nil, err
	}
	if r.places == nil {
		r.places = map[int][]int{}
	}
	r.places[n] = p
	return p, nil
}

// certs returns the directory of mesh+TLS's certificates: a CA made for
// this run and a certificate for every node name a workload uses.
func (r *runner) certs() (string, error) {
	if r.certDir != "" {
		return r.certDir, nil
	}
	dir := filepath.Join(r.tmp, "certs")
	if err := writeDevCerts(dir, maxNodes); err != nil {
		return "", err
	}
	r.certDir = dir
	return dir, nil
}

func (r *runner) logf(format string, args ...any) {
	el := time.Since(r.start).Round(time.Second)
	fmt.Fprintf(r.out, "[%02d:%02d] %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
}

func (r *runner) spawn(name string) (*child, error) {
	r.seq++
	return spawn(r.exe, name, filepath.Join(r.tmp, fmt.Sprintf("%03d-%s.log", r.seq, name)))
}

// runSpec runs sp's phases on nodes[caller], one "phase" command each,
// and returns the timed phases' results with their CPU time summed over
// every process in nodes.
//
// Which processes count: the load runs inside nodes[caller] (runPhase's
// callers are goroutines of that node process), and the other node
// processes serve the IDs placed on them. The driver (this process) only
// writes commands and waits for their answers while a phase runs (it was
// seen to use 0.2-0.4 ms of CPU per phase, decoding the answer), so it is
// not one of the contender's processes and is not counted; nor is any
// node counted twice, since the caller's share comes only from its own
// reading and the other nodes' only from "cpu".
//
// Bracketing: the caller reads its own CPU time in runPhase right before
// its callers start and right after the last one ends, the same span as
// Wall. The other nodes are read by "cpu" commands sent to all of them at
// once just before the "phase" command is written and just after its
// answer arrives. Their window is therefore longer than the caller's by
// one trip of the "phase" command into the caller (a pipe write, a JSON
// decode, a goroutine start: well under a millisecond), the encoding of
// the phase's histogram and answer on the way out (a few milliseconds at
// most), and one "cpu" round trip at each end (~0.1 ms each, on two
// cores up to a scheduler slice). Outside the phase those nodes serve no
// calls: what the slack adds is their idle background work (membership
// gossip, the peer's health polls) and the tail of work the phase left
// behind (garbage collection, flushes), which belongs to the phase. On
// two cores C1 showed 1-7 ms of slack per phase against walls of
// 0.14-1 s, and an idle node process uses 0.2 (raw protoactor) to 5 (peer) ms
// of CPU per second, so the slack adds well under 0.1% to the sum. The
// measured span is kept as CPUWindow beside Wall.
func runSpec(nodes []*child, caller int, sp *spec) ([]phaseResult, error) {
	c := nodes[caller]
	var others []int
	for i := range nodes {
		if i != caller {
			others = append(others, i)
		}
	}
	if _, err := c.do(command{Op: "prepare", Run: sp}, time.Minute); err != nil {
		return nil, withLog(err, c)
	}
	defer func() { _, _ = c.do(command{Op: "finish"}, 10*time.Second) }()
	var out []phaseResult
	for i, ph := range sp.Phases {
		// Room for the phase, its memory samples and garbage collections.
		timeout := seconds(ph.Limit + 60)
		if !ph.Timed {
			if _, err := c.do(command{Op: "phase", Phase: i}, timeout); err != nil {
				return out, withLog(err, c)
			}
			continue
		}
		t0 := time.Now()
		before, err := cpuTimes(nodes, others)
		if err != nil {
			return out, err
		}
		rep, err := c.do(command{Op: "phase", Phase: i}, timeout)
		if err != nil {
			return out, withLog(err, c)
		}
		after, err := cpuTimes(nodes, others)
		if err != nil {
			return out, err
		}
		window := time.Since(t0)
		if len(rep.Phases) != 1 {
			return out, fmt.Errorf("%s: phase %s: %d results", c.name, ph.Name, len(rep.Phases))
		}
		r := rep.Phases[0]
		ops := float64(max(r.OK+r.Errors, 1))
		r.NodeCPU = make([]float64, len(nodes))
		r.NodeCPU[caller] = r.CallerCPU
		r.CPU = r.CallerCPU
		for k, j := range others {
			r.NodeCPU[j] = (after[k] - before[k]).Seconds() * 1e6 / ops
			r.CPU += r.NodeCPU[j]
		}
		r.CPUWindow = window.Seconds()
		out = append(out, r)
	}
	return out, nil
}

// cpuTimes reads the CPU time of the node processes nodes[idx...], all at
// once.
func cpuTimes(nodes []*child, idx []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(idx))
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Go(func() {
			rep, err := nodes[i].do(command{Op: "cpu"}, 10*time.Second)
			if err == nil && rep.CPU <= 0 {
				err = fmt.Errorf("%s: cpu: no CPU time", nodes[i].name)
			}
			out[k], errs[k] = time.Duration(rep.CPU), err
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// single runs sp on a fresh one-node process of contender.
func (r *runner) single(contender string, kinds []string, sp *spec) ([]phaseResult, error) {
	start := &startArgs{Contender: contender, Name: "node-1", Kinds: kinds}
	if savesState(contender) {
		st, cleanup, err := r.freshStore(contender)
		if err != nil {
			return nil, err
		}
		defer cleanup() // after the node process has stopped
		start.Store = &st
	}
	c, err := r.spawn("node-1")
	if err != nil {
		return nil, err
	}
	defer c.stop(5 * time.Second)
	if _, err := c.do(command{Op: "start", Start: start}, time.Minute); err != nil {
		return nil, withLog(err, c)
	}
	a := &awaitArgs{Members: 1, Offering: map[string]int{}, Timeout: 30}
	for _, k := range kinds {
		a.Offering[k] = 1
	}
	if _, err := c.do(command{Op: "await", Await: a}, time.Minute); err != nil {
		return nil, withLog(err, c)
	}
	return runSpec([]*child{c}, 0, sp)
}

func withLog(err error, c *child) error {
	if errors.Is(err, errChildGone) {
		if tail := strings.TrimSpace(c.logTail()); tail != "" {
			return fmt.Errorf("%w\n--- end of %s's output:\n%s", err, c.name, tail)
		}
	}
	return err
}

// group is a multi-process cluster of one contender.
type group struct {
	r         *runner
	contender string
	nodes     []*child
	names     []string
	infos     []nodeInfo
	kinds     [][]string
	autoHosts []string // the peer's automanaged addresses, spares included
	// store is the store every node shares (the save contenders), and
	// dropStore removes it once the nodes are gone.
	store     *storeArgs
	dropStore func()
}

// freePorts returns n free loopback TCP ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startCluster starts one node process per entry of kinds (the kinds each
// node hosts) and waits until all see each other. spare reserves places
// for nodes added later.
func (r *runner) startCluster(contender string, kinds [][]string, spare int) (*group, error) {
	cl := &group{r: r, contender: contender}
	if savesState(contender) {
		st, cleanup, err := r.freshStore(contender)
		if err != nil {
			return nil, err
		}
		cl.store, cl.dropStore = &st, cleanup
	}
	if contender == peer {
		ports, err := freePorts(len(kinds) + spare)
		if err != nil {
			return nil, err
		}
		for _, p := range ports {
			cl.autoHosts = append(cl.autoHosts, fmt.Sprintf("127.0.0.1:%d", p))
		}
	}
	for _, k := range kinds {
		if err := cl.add(k); err != nil {
			cl.close()
			return nil, err
		}
	}
	if err := cl.await(cl.live(), 60*time.Second); err != nil {
		cl.close()
		return nil, err
	}
	return cl, nil
}

// add starts one more node hosting kinds.
func (cl *group) add(kinds []string) error {
	i := len(cl.nodes)
	name := fmt.Sprintf("node-%d", i+1)
	c, err := cl.r.spawn(name)
	if err != nil {
		return err
	}
	a := &startArgs{Contender: cl.contender, Name: name, Kinds: kinds, Store: cl.store}
	if cl.contender == meshTLS {
		dir, err := cl.r.certs()
		if err != nil {
			c.kill()
			return err
		}
		a.TLSDir = dir
	}
	for j, info := range cl.infos {
		if cl.nodes[j] != nil && info.Gossip != "" {
			a.Seeds = append(a.Seeds, info.Gossip)
		}
	}
	if cl.contender == peer {
		if i >= len(cl.autoHosts) {
			c.kill()
			return errors.New("no automanaged port reserved for another peer node")
		}
		fmt.Sscanf(cl.autoHosts[i], "127.0.0.1:%d", &a.AutoPort)
		a.AutoHosts = cl.autoHosts
	}
	rep, err := c.do(command{Op: "start", Start: a}, 90*time.Second)
	if err != nil {
		c.kill()
		return withLog(err, c)
	}
	cl.nodes = append(cl.nodes, c)
	cl.names = append(cl.names, name)
	cl.infos = append(cl.infos, *rep.Info)
	cl.kinds = append(cl.kinds, kinds)
	return nil
}

// live returns the indexes of the nodes still running.
func (cl *group) live() []int {
	var out []int
	for i, c := range cl.nodes {
		if c != nil {
			out = append(out, i)
		}
	}
	return out
}

// await waits until every node in idx sees exactly the nodes in idx.
func (cl *group) await(idx []int, timeout time.Duration) error {
	a := &awaitArgs{Members: len(idx), Offering: map[string]int{}, Timeout: timeout.Seconds()}
	for _, i := range idx {
		for _, k := range cl.kinds[i] {
			a.Offering[k]++
		}
	}
	for _, i := range idx {
		if _, err := cl.nodes[i].do(command{Op: "await", Await: a}, timeout+10*time.Second); err != nil {
			return withLog(err, cl.nodes[i])
		}
	}
	return nil
}

// locate asks node 0 which node mesh's ring places each of IDs 0 to n-1
// of the echo capability on, and returns their indexes.
func (cl *group) locate(n int) ([]int, error) {
	rep, err := cl.nodes[0].do(command{Op: "locate", Kind: "echo", IDs: ids(n)}, time.Minute)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(rep.Owners))
	for i, o := range rep.Owners {
		j := slices.Index(cl.names, o)
		if j < 0 {
			return nil, fmt.Errorf("%s placed on %q, not a node of the cluster", idName(i), o)
		}
		out[i] = j
	}
	return out, nil
}

// remotes returns the remote address of every node, for the contenders
// that place IDs themselves.
func (cl *group) remotes() []string {
	var out []string
	for _, info := range cl.infos {
		out = append(out, info.Remote)
	}
	return out
}

// kill ends node i with SIGKILL.
func (cl *group) kill(i int) {
	cl.nodes[i].kill()
	cl.nodes[i] = nil
}

// leave closes node i gracefully and waits for its process to end.
func (cl *group) leave(i int) error {
	_, err := cl.leaveReply(i)
	return err
}

// leaveReply is leave, returning the node's answer to its close.
func (cl *group) leaveReply(i int) (reply, error) {
	c := cl.nodes[i]
	rep, err := c.do(command{Op: "close", Graceful: true}, 60*time.Second)
	c.stop(5 * time.Second)
	cl.nodes[i] = nil
	return rep, err
}

func (cl *group) close() {
	for i, c := range cl.nodes {
		if c != nil {
			c.kill()
			cl.nodes[i] = nil
		}
	}
	if cl.dropStore != nil {
		cl.dropStore()
		cl.dropStore = nil
	}
}

// tempDir makes the directory for node logs.
func tempDir() (string, error) { return os.MkdirTemp("", "meshbench-") }
