package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// workload is one benchmark of BENCH.md.
type workload struct {
	ID    string
	Title string
	// Rounds picks the workload's round count from the parameters.
	Rounds func(p params) int
	// Contenders that can run it (R1, R2 have no ceilings: raw protoactor
	// does not place or move anything).
	Contenders []string
	// Run runs one round for one contender; prof, if set, is where mesh's
	// CPU profile goes.
	Run func(r *runner, contender string, prof string) (*result, error)
}

func singleRounds(p params) int  { return p.Rounds }
func clusterRounds(p params) int { return p.ClusterRounds }
func rRounds(p params) int       { return p.RRounds }

// Phase names shared by workloads and the report.
const (
	phActivate = "activate"
	phCall     = "call"
)

func curvePhase(callers int) string { return "c" + strconv.Itoa(callers) }

func workloads() []workload {
	all := []string{meshC, ceiling, futures, peer}
	cross := []string{meshC, meshTLS, ceiling, futures, wireC, peer}
	// Saving on change is measured where its cost shows against plain
	// mesh: warm calls on one node and across nodes.
	saving := []string{meshSave, meshSavePG}
	return []workload{
		{ID: "B1", Title: "activation: new IDs, one echo call each (create + call)", Rounds: singleRounds, Contenders: all, Run: runB1},
		{ID: "B2", Title: "hot actor: calls to one pre-created ID", Rounds: singleRounds, Contenders: all, Run: runB2},
		{ID: "B4", Title: "activations spread over 3 capabilities", Rounds: singleRounds, Contenders: all, Run: runB4},
		{ID: "B5", Title: "warm calls round robin over created IDs, per payload size, and the single-node throughput curve", Rounds: singleRounds, Contenders: slices.Concat(all, saving), Run: runB5},
		{ID: "B6", Title: "latency: sequential calls from one caller to existing actors", Rounds: singleRounds, Contenders: all, Run: runB6},
		{ID: "M", Title: "memory per idle activation", Rounds: singleRounds, Contenders: all, Run: runM},
		{ID: "C1", Title: "cross-node: 3 node processes, calls over IDs from one node, per payload size, and the cross-node throughput curve", Rounds: clusterRounds, Contenders: slices.Concat(cross, saving), Run: runC1},
		{ID: "C2", Title: "balanced: 4 node processes, one capability each; activations then calls from one node", Rounds: clusterRounds, Contenders: all, Run: runC2},
		{ID: "C3", Title: "cross-node latency: sequential calls from one caller to IDs another node process serves", Rounds: clusterRounds, Contenders: []string{meshC, meshTLS, peer}, Run: runC3},
		{ID: "C4", Title: "CPU per call against node count: C1's calls with 2, 4 and 8 node processes", Rounds: clusterRounds, Contenders: []string{meshC, ceiling, wireC}, Run: runC4},
		{ID: "R1", Title: "rebalance: a 4th node joins a 3-node cluster, then leaves, under load", Rounds: rRounds, Contenders: []string{meshC, peer}, Run: runR1},
		{ID: "R2", Title: "failover: kill -9 of a node, and a graceful leave, under load", Rounds: rRounds, Contenders: []string{meshC, peer}, Run: runR2},
		{ID: "S", Title: "stores: saves per second and restore latency, 1 KiB records", Rounds: singleRounds, Contenders: stores, Run: runS},
	}
}

func phasesResult(phases []phaseResult) map[string]phaseResult {
	m := map[string]phaseResult{}
	for _, ph := range phases {
		m[ph.Name] = ph
	}
	return m
}

func (r *runner) singleRun(contender, prof string, kinds []string, sp *spec) (*result, error) {
	if contender == meshC && prof != "" {
		sp.CPUProfile = prof
	}
	phases, err := r.single(contender, kinds, sp)
	return &result{Phases: phasesResult(phases)}, err
}

// timed is a timed phase of n operations, ended by the run's window.
func (r *runner) timed(name, op string, ids, n, callers int) phase {
	return phase{Name: name, Op: op, IDs: ids, N: n, Callers: callers, Limit: r.p.Limit, Timed: true, Window: r.p.Window}
}

// payloads are the run's payload sizes (older results name none).
func (p params) payloads() []int {
	if len(p.Payloads) == 0 {
		return payloadSizes[:1]
	}
	return p.Payloads
}

// callPhases are a timed call phase per payload size, then, if curves,
// the throughput curve at the headline size.
func (r *runner) callPhases(ids, n, callers int, curves bool) []phase {
	var out []phase
	for _, size := range r.p.payloads() {
		ph := r.timed(payloadPhase(size), "call", ids, n, callers)
		ph.Payload = size
		out = append(out, ph)
	}
	if curves {
		for _, c := range curveCallers {
			out = append(out, r.timed(curvePhase(c), "call", ids, r.p.CurveN, c))
		}
	}
	return out
}

// curvesOf reports whether a run of contender measures the throughput
// curve: not when profiling, and not for the save contenders, whose cost
// the payload phases show.
func curvesOf(contender, prof string) bool { return prof == "" && !savesState(contender) }

func runB1(r *runner, contender, prof string) (*result, error) {
	p := r.p
	return r.singleRun(contender, prof, []string{"echo"}, &spec{Kinds: []string{"echo"}, IDs: p.B1, Phases: []phase{
		r.timed(phActivate, "activate", p.B1, p.B1, b1Callers),
	}})
}

func runB2(r *runner, contender, prof string) (*result, error) {
	p := r.p
	return r.singleRun(contender, prof, []string{"echo"}, &spec{Kinds: []string{"echo"}, IDs: 1, Phases: []phase{
		{Name: "create", Op: "activate", IDs: 1, N: 1, Callers: 1, Limit: p.Limit},
		r.timed(phCall, "call", 1, p.B2, b2Callers),
	}})
}

var b4Kinds = []string{"echo_a", "echo_b", "echo_c"}

func runB4(r *runner, contender, prof string) (*result, error) {
	p := r.p
	return r.singleRun(contender, prof, b4Kinds, &spec{Kinds: b4Kinds, IDs: p.B4, Phases: []phase{
		r.timed(phActivate, "activate", p.B4, p.B4, b4Callers),
	}})
}

func runB5(r *runner, contender, prof string) (*result, error) {
	p := r.p
	phases := []phase{{Name: "create", Op: "activate", IDs: p.B5IDs, N: p.B5IDs, Callers: b5Callers, Limit: p.Limit}}
	phases = append(phases, r.callPhases(p.B5IDs, p.B5Calls, b5Callers, curvesOf(contender, prof))...)
	return r.singleRun(contender, prof, []string{"echo"}, &spec{Kinds: []string{"echo"}, IDs: p.B5IDs, Phases: phases})
}

func runB6(r *runner, contender, prof string) (*result, error) {
	p := r.p
	return r.singleRun(contender, prof, []string{"echo"}, &spec{Kinds: []string{"echo"}, IDs: p.B6IDs, Phases: []phase{
		{Name: "create", Op: "activate", IDs: p.B6IDs, N: p.B6IDs, Callers: 64, Limit: p.Limit},
		{Name: "warm", Op: "call", IDs: p.B6IDs, N: min(p.B6Calls, 2000), Callers: 1, Limit: p.Limit},
		r.timed(phCall, "call", p.B6IDs, p.B6Calls, 1),
	}})
}

// runM activates all of its IDs, whatever the window: it measures memory
// per activation.
func runM(r *runner, contender, prof string) (*result, error) {
	p := r.p
	return r.singleRun(contender, prof, []string{"echo"}, &spec{Kinds: []string{"echo"}, IDs: p.M, Phases: []phase{
		{Name: phActivate, Op: "activate", IDs: p.M, N: p.M, Callers: mCallers, Limit: p.Limit, Timed: true, Memory: true},
	}})
}

// placesIDs reports whether contender places IDs itself, by the placement
// the driver gives it, instead of routing.
func placesIDs(contender string) bool {
	return contender == ceiling || contender == futures || contender == wireC
}

// clusterRun starts a cluster whose nodes host kinds, runs sp on its
// first node and stops it. Contenders that place IDs themselves get place
// (nil: mesh's placement over these nodes, see runner.placement). The
// result's "local_share" is the share of sp's IDs the calling node serves:
// asked of mesh's ring for mesh, by "where" calls after the phases for the
// peer, from the placement for the others; for mesh "placement_same" is
// the share of IDs its ring places where the placement given to the others
// does. With prof set and mesh, the first node's and the second node's CPU
// profiles are written to prof and prof's "-server" sibling.
func (r *runner) clusterRun(contender, prof string, kinds [][]string, place []int, sp *spec) (*result, error) {
	if place == nil {
		var err error
		if place, err = r.placement(len(kinds), sp.IDs); err != nil {
			return nil, fmt.Errorf("placement: %w", err)
		}
	}
	cl, err := r.startCluster(contender, kinds, 0)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	sp.Peers, sp.Self = cl.remotes(), 0
	v := map[string]float64{}
	switch {
	case placesIDs(contender):
		sp.Place = place
		v["local_share"] = localShare(place[:sp.IDs])
	case isMesh(contender) && slices.Equal(sp.Kinds, []string{"echo"}):
		got, err := cl.locate(sp.IDs)
		if err != nil {
			return nil, err
		}
		v["local_share"] = localShare(got)
		same := 0
		for i, o := range got {
			if o == place[i] {
				same++
			}
		}
		v["placement_same"] = float64(same) / float64(len(got))
	}
	var server string
	if contender == meshC && prof != "" {
		sp.CPUProfile = prof
		ext := filepath.Ext(prof)
		server = prof[:len(prof)-len(ext)] + "-server" + ext
	}
	if server != "" {
		if _, err := cl.nodes[1].do(command{Op: "profile", Path: server}, 10*time.Second); err != nil {
			return nil, err
		}
	}
	phases, err := runSpec(cl.nodes, 0, sp)
	if server != "" {
		_, _ = cl.nodes[1].do(command{Op: "profile"}, 10*time.Second)
	}
	res := &result{Phases: phasesResult(phases), Values: v}
	if err == nil && contender == peer && len(sp.Kinds) == 1 {
		owners, serr := cl.survey(ids(sp.IDs))
		if serr != nil {
			return res, fmt.Errorf("where: %w", serr)
		}
		local := 0
		for _, o := range owners {
			if o == cl.names[0] {
				local++
			}
		}
		v["local_share"] = float64(local) / float64(len(owners))
	}
	return res, err
}

// localShare is the share of a placement on node 0, the calling node.
func localShare(place []int) float64 {
	if len(place) == 0 {
		return 0
	}
	n := 0
	for _, o := range place {
		if o == 0 {
			n++
		}
	}
	return float64(n) / float64(len(place))
}

func echoNodes(n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = []string{"echo"}
	}
	return out
}

func runC1(r *runner, contender, prof string) (*result, error) {
	p := r.p
	phases := []phase{{Name: "create", Op: "activate", IDs: p.C1IDs, N: p.C1IDs, Callers: c1Callers, Limit: p.Limit}}
	phases = append(phases, r.callPhases(p.C1IDs, p.C1Calls, c1Callers, curvesOf(contender, prof))...)
	return r.clusterRun(contender, prof, echoNodes(3), nil, &spec{Kinds: []string{"echo"}, IDs: p.C1IDs, Phases: phases})
}

// runC3 measures the latency of one caller's sequential calls, each to an
// ID another node process serves.
func runC3(r *runner, contender, prof string) (*result, error) {
	p := r.p
	warm := phase{Name: "warm", Op: "call", IDs: p.C3IDs, N: min(p.C3Calls, 2000), Callers: 1, Limit: p.Limit, Remote: true}
	timed := r.timed(phCall, "call", p.C3IDs, p.C3Calls, 1)
	timed.Remote = true
	return r.clusterRun(contender, prof, echoNodes(3), nil, &spec{Kinds: []string{"echo"}, IDs: p.C3IDs, Phases: []phase{
		{Name: "create", Op: "activate", IDs: p.C3IDs, N: p.C3IDs, Callers: 64, Limit: p.Limit}, warm, timed,
	}})
}

// scalePhase names C4's timed phase over n node processes with C1's mix
// of calls; remotePhase the one with remote calls only.
func scalePhase(n int) string  { return "n" + strconv.Itoa(n) }
func remotePhase(n int) string { return scalePhase(n) + "_remote" }

// runC4 runs C1's 16-byte calls on clusters of each of the run's node
// counts, one after the other, and reports each as a phase of one result:
// once over all of C1's IDs, whose share on the calling node falls as nodes
// are added, and once over the IDs other nodes serve, where every call does
// the same work whatever the node count.
func runC4(r *runner, contender, _ string) (*result, error) {
	p := r.p
	res := &result{Phases: map[string]phaseResult{}, Values: map[string]float64{}}
	for _, n := range p.ScaleNodes {
		remote := r.timed(remotePhase(n), "call", p.C1IDs, p.C1Calls, c1Callers)
		remote.Remote = true
		one, err := r.clusterRun(contender, "", echoNodes(n), nil, &spec{Kinds: []string{"echo"}, IDs: p.C1IDs, Phases: []phase{
			{Name: "create", Op: "activate", IDs: p.C1IDs, N: p.C1IDs, Callers: c1Callers, Limit: p.Limit},
			r.timed(scalePhase(n), "call", p.C1IDs, p.C1Calls, c1Callers),
			remote,
		}})
		if one != nil {
			maps.Copy(res.Phases, one.Phases)
			res.Values["local_share_"+scalePhase(n)] = one.Values["local_share"]
		}
		if err != nil {
			return res, fmt.Errorf("%d nodes: %w", n, err)
		}
	}
	return res, nil
}

var c2Kinds = []string{"cap_1", "cap_2", "cap_3", "cap_4"}

func runC2(r *runner, contender, prof string) (*result, error) {
	p := r.p
	var kinds [][]string
	for _, k := range c2Kinds {
		kinds = append(kinds, []string{k})
	}
	// ID i has capability i % 4, which only node i % 4 offers: there is
	// one placement.
	place := make([]int, p.C2Acts)
	for i := range place {
		place[i] = i % len(c2Kinds)
	}
	// The activations have no window: the calls need every ID to exist.
	sp := &spec{Kinds: c2Kinds, IDs: p.C2Acts, Phases: []phase{
		{Name: phActivate, Op: "activate", IDs: p.C2Acts, N: p.C2Acts, Callers: c2Callers, Limit: p.Limit, Timed: true},
		r.timed(phCall, "call", p.C2Acts, p.C2Calls, c2Callers),
	}}
	return r.clusterRun(contender, prof, kinds, place, sp)
}

// Background load of R1 and R2: a few callers, each pausing between
// calls, so that the load does not starve the membership protocols of
// two cores.
const (
	rCallers = 8
	rPause   = 0.002
	rTimeout = 1.0
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = idName(i)
	}
	return out
}

// survey activates ids from node 0 and returns the node serving each.
func (cl *group) survey(ids []string) ([]string, error) {
	return cl.ask("echo", "", ids)
}

// ask sends query (whereQuery if "") from node 0 to each of ids of kind,
// activating it, and returns the node serving each.
func (cl *group) ask(kind, query string, ids []string) ([]string, error) {
	rep, err := cl.nodes[0].do(command{Op: "where", Kind: kind, Query: query, IDs: ids}, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	for i, o := range rep.Owners {
		if o == "" {
			return nil, fmt.Errorf("%s did not answer", ids[i])
		}
	}
	return rep.Owners, nil
}

// counts returns the activations on each node in idx.
func (cl *group) counts(idx []int) (map[int]int, error) {
	out := map[int]int{}
	for _, i := range idx {
		rep, err := cl.nodes[i].do(command{Op: "count"}, 10*time.Second)
		if err != nil {
			return nil, err
		}
		out[i] = rep.Count
	}
	return out, nil
}

func movedShare(before, after []string) float64 {
	if len(before) == 0 || len(before) != len(after) {
		return -1
	}
	moved := 0
	for i := range before {
		if before[i] != after[i] {
			moved++
		}
	}
	return float64(moved) / float64(len(before))
}

// change runs fn (a join or a leave) under a background load from node 0
// and measures what moved: the share of IDs (and, for mesh, of shards)
// served elsewhere afterwards, the activations the nodes in keep lost, and
// the calls that failed from the start of fn until the cluster in settled
// was seen by every node in it. On kind counterKind it measures the
// handoff too (handoffCheck); fn adds to handed the states of a node that
// leaves.
func (cl *group) change(prefix string, v map[string]float64, notes *[]string, kind string, idList, owners []string, keep, settled []int, handed *handoffStats, fn func() error) ([]string, error) {
	stateful := kind == counterKind
	var shardsBefore []string
	if cl.contender == meshC {
		rep, err := cl.nodes[0].do(command{Op: "shards", Kind: kind}, 30*time.Second)
		if err != nil {
			return nil, err
		}
		shardsBefore = rep.Owners
	}
	before, err := cl.counts(keep)
	if err != nil {
		return nil, err
	}
	handing := stateful && cl.contender == meshC
	if handing {
		if _, err := cl.handoffs(cl.live()); err != nil { // forget earlier ones
			return nil, err
		}
	}
	load := &loadArgs{IDs: idList, Kind: kind, Callers: rCallers, Timeout: rTimeout, Pause: rPause, Limit: 120}
	if _, err := cl.nodes[0].do(command{Op: "loadStart", Load: load}, 10*time.Second); err != nil {
		return nil, err
	}
	t0 := time.Now()
	load.Since = t0.UnixNano()
	ferr := fn()
	if ferr == nil {
		ferr = cl.await(settled, 60*time.Second)
	}
	v[prefix+"converge_s"] = time.Since(t0).Seconds()
	if ferr == nil && stateful {
		ferr = cl.handoffCheck(prefix, v, notes, idList, owners, t0, seconds(cl.r.p.Limit))
	}
	time.Sleep(500 * time.Millisecond)
	rep, err := cl.nodes[0].do(command{Op: "loadStop", Load: load}, 30*time.Second)
	if ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	v[prefix+"calls"] = float64(rep.Load.Calls)
	v[prefix+"failed"] = float64(rep.Load.Failed)
	v[prefix+"max_latency_s"] = rep.Load.MaxLatency
	if rep.Load.FirstErr != "" {
		*notes = append(*notes, fmt.Sprintf("%s: first failed call: %s", strings.TrimSuffix(prefix, "_"), rep.Load.FirstErr))
	}
	if handing {
		// The old owners log their handoff once every new owner acknowledged
		// it, which may trail the moved IDs' answers a little.
		want := int64(v[prefix+"moved"] - v[prefix+"state_lost"] - v[prefix+"unanswered"])
		deadline := time.Now().Add(10 * time.Second)
		for {
			h, err := cl.handoffs(settled)
			if err != nil {
				return nil, err
			}
			handed.States += h.States
			handed.Took = max(handed.Took, h.Took)
			if handed.States >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		v[prefix+"handed_off"] = float64(handed.States)
		v[prefix+"handoff_s"] = handed.Took
		if handed.Took > 0 {
			v[prefix+"handoffs_per_s"] = float64(handed.States) / handed.Took
		}
	}
	after, err := cl.ask(kind, "", idList)
	if err != nil {
		return nil, err
	}
	v[prefix+"ids_moved"] = movedShare(owners, after)
	if shardsBefore != nil {
		rep, err := cl.nodes[0].do(command{Op: "shards", Kind: kind}, 30*time.Second)
		if err != nil {
			return nil, err
		}
		v[prefix+"shards_moved"] = movedShare(shardsBefore, rep.Owners)
	}
	now, err := cl.counts(keep)
	if err != nil {
		return nil, err
	}
	stopped := 0
	for i, b := range before {
		stopped += max(b-now[i], 0)
	}
	v[prefix+"stopped"] = float64(stopped)
	return after, nil
}

// handoffs takes, from the nodes in idx, the states each handed off since
// last asked, and returns their sum and the longest handoff.
func (cl *group) handoffs(idx []int) (handoffStats, error) {
	var sum handoffStats
	for _, i := range idx {
		rep, err := cl.nodes[i].do(command{Op: "handoffs"}, 10*time.Second)
		if err != nil {
			return sum, err
		}
		if rep.Handoffs != nil {
			sum.States += rep.Handoffs.States
			sum.Took = max(sum.Took, rep.Handoffs.Took)
		}
	}
	return sum, nil
}

// handoffCheck asks, from node 0, the IDs that moved for their count
// until each answers from its new owner, and counts those that came back
// without their state: every ID was bumped once before the change, and
// the background load's where queries do not count, so an ID whose state
// was handed off answers 1 and one that restarted answers 0. On mesh the
// IDs that moved are those its ring now places elsewhere; the peer has no
// placement to ask, so every ID is asked until it answers, and those
// answering from another node than before moved. It records the IDs that
// moved, the seconds from t0 until the last answered, those lost and
// those that never answered from their new owner within limit.
func (cl *group) handoffCheck(prefix string, v map[string]float64, notes *[]string, idList, owners []string, t0 time.Time, limit time.Duration) error {
	var placed []string // mesh's new placement; nil on the peer
	var pending []int
	if cl.contender == meshC {
		rep, err := cl.nodes[0].do(command{Op: "locate", Kind: counterKind, IDs: idList}, time.Minute)
		if err != nil {
			return err
		}
		if placed = rep.Owners; len(placed) != len(idList) {
			return fmt.Errorf("located %d of %d IDs", len(placed), len(idList))
		}
		for i := range idList {
			if placed[i] != owners[i] {
				pending = append(pending, i)
			}
		}
	} else {
		pending = make([]int, len(idList))
		for i := range pending {
			pending[i] = i
		}
	}
	moved, lost := 0, 0
	deadline := t0.Add(limit)
	for len(pending) > 0 && time.Now().Before(deadline) {
		q := make([]string, len(pending))
		for k, i := range pending {
			q[k] = idList[i]
		}
		rep, err := cl.nodes[0].do(command{Op: "where", Kind: counterKind, Query: stateQuery, IDs: q}, 3*time.Minute)
		if err != nil {
			return err
		}
		var left []int
		for k, i := range pending {
			node, count, err := parseState(rep.Owners[k])
			if err != nil || (placed != nil && node != placed[i]) {
				left = append(left, i)
				continue
			}
			if node == owners[i] {
				continue // the peer's, not moved
			}
			moved++
			if count < 1 {
				lost++
			}
		}
		pending = left
		if len(pending) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	v[prefix+"state_s"] = time.Since(t0).Seconds()
	v[prefix+"moved"] = float64(moved + len(pending))
	v[prefix+"state_lost"] = float64(lost)
	v[prefix+"unanswered"] = float64(len(pending))
	if len(pending) > 0 {
		*notes = append(*notes, fmt.Sprintf("%s: %d IDs did not answer from their new owner within %v", strings.TrimSuffix(prefix, "_"), len(pending), limit))
	}
	return nil
}

// runR1 runs R1 over counters: mesh hands their counts off live when
// their shards move; the peer has no handoff.
func runR1(r *runner, contender, _ string) (*result, error) {
	p := r.p
	kind, query := counterKind, bumpQuery
	kinds := []string{kind}
	cl, err := r.startCluster(contender, [][]string{kinds, kinds, kinds}, 1)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	idList := ids(p.R1IDs)
	owners, err := cl.ask(kind, query, idList)
	if err != nil {
		return nil, err
	}
	v := map[string]float64{"ids": float64(len(idList))}
	var notes []string
	var joined, left handoffStats
	owners, err = cl.change("join_", v, &notes, kind, idList, owners, []int{0, 1, 2}, []int{0, 1, 2, 3}, &joined, func() error {
		return cl.add(kinds)
	})
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if _, err := cl.change("leave_", v, &notes, kind, idList, owners, []int{0, 1, 2}, []int{0, 1, 2}, &left, func() error {
		rep, err := cl.leaveReply(3)
		if rep.Handoffs != nil {
			left.States += rep.Handoffs.States
			left.Took = max(left.Took, rep.Handoffs.Took)
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("leave: %w", err)
	}
	return &result{Values: v, Notes: notes}, nil
}

func runR2(r *runner, contender, _ string) (*result, error) {
	v := map[string]float64{}
	var notes []string
	for _, graceful := range []bool{false, true} {
		prefix := "kill_"
		if graceful {
			prefix = "leave_"
		}
		if err := r.failover(contender, graceful, prefix, v, &notes); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix[:len(prefix)-1], err)
		}
	}
	return &result{Values: v, Notes: notes}, nil
}

// failover starts 3 nodes, loads the IDs node-3 serves from node-1, and
// kills or closes node-3.
func (r *runner) failover(contender string, graceful bool, prefix string, v map[string]float64, notes *[]string) error {
	echo := []string{"echo"}
	cl, err := r.startCluster(contender, [][]string{echo, echo, echo}, 0)
	if err != nil {
		return err
	}
	defer cl.close()
	all := ids(r.p.R2IDs)
	owners, err := cl.survey(all)
	if err != nil {
		return err
	}
	victim := cl.names[2]
	var idList, idOwners []string
	for i, o := range owners {
		if o == victim {
			idList = append(idList, all[i])
			idOwners = append(idOwners, o)
		}
	}
	if len(idList) == 0 {
		return fmt.Errorf("%s serves none of %d IDs", victim, len(all))
	}
	load := &loadArgs{IDs: idList, Kind: "echo", Callers: rCallers, Timeout: rTimeout, Pause: rPause,
		Limit: r.p.FailoverLimit + 30, Victim: victim, Owners: idOwners}
	if _, err := cl.nodes[0].do(command{Op: "loadStart", Load: load}, 10*time.Second); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	load.Since = t0.UnixNano()
	if graceful {
		if err := cl.leave(2); err != nil {
			return err
		}
	} else {
		cl.kill(2)
	}
	// Wait until every ID of the victim has answered from elsewhere.
	deadline := t0.Add(seconds(r.p.FailoverLimit))
	for time.Now().Before(deadline) {
		rep, err := cl.nodes[0].do(command{Op: "loadPeek", Load: load}, 10*time.Second)
		if err != nil {
			return err
		}
		if rep.Load.AllOK >= 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	rep, err := cl.nodes[0].do(command{Op: "loadStop", Load: load}, 30*time.Second)
	if err != nil {
		return err
	}
	v[prefix+"ids"] = float64(len(idList))
	v[prefix+"first_ok_s"] = rep.Load.FirstOK
	v[prefix+"all_ok_s"] = rep.Load.AllOK
	v[prefix+"calls"] = float64(rep.Load.Calls)
	v[prefix+"failed"] = float64(rep.Load.Failed)
	v[prefix+"max_latency_s"] = rep.Load.MaxLatency
	if rep.Load.FirstErr != "" {
		*notes = append(*notes, fmt.Sprintf("%s: first failed call: %s", strings.TrimSuffix(prefix, "_"), rep.Load.FirstErr))
	}
	return nil
}

// contendersOf returns w's contenders, rotated by round so that no
// contender always runs first.
func contendersOf(w workload, round int) []string {
	cs := slices.Clone(w.Contenders)
	k := round % len(cs)
	return append(cs[k:], cs[:k]...)
}
