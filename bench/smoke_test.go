package main

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestMain(m *testing.M) {
	// The smoke test starts this test binary again as node processes.
	if os.Getenv(roleEnv) == "node" {
		os.Exit(runNode())
	}
	os.Exit(m.Run())
}

// logWriter sends the suite's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestSmoke runs every workload for every contender at a tiny size, each
// node its own process, and checks that each completes with sane figures.
// It measures nothing: the workloads run all at once to keep it short.
func TestSmoke(t *testing.T) {
	type outcome struct {
		s   *suite
		dir string
		err error
	}
	ws := workloads()
	outcomes := make([]outcome, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		if testing.Short() && (w.ID == "R1" || w.ID == "R2") {
			continue // they wait for failure detection
		}
		dir := t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := runSuite(os.Args[0], smokeParams(), dir, selection{workloads: []string{w.ID}}, false, logWriter{t})
			outcomes[i] = outcome{s, dir, err}
		}()
	}
	wg.Wait()
	for i, w := range ws {
		t.Run(w.ID, func(t *testing.T) {
			o := outcomes[i]
			if o.s == nil && o.err == nil {
				t.Skip("skipped in -short mode: waits for failure detection")
			}
			if o.err != nil {
				t.Fatal(o.err)
			}
			if len(o.s.Results) != len(w.Contenders) {
				t.Fatalf("%d results for %d contenders", len(o.s.Results), len(w.Contenders))
			}
			for _, r := range o.s.Results {
				if r.Err == notRunPG && os.Getenv(postgresEnv) == "" {
					t.Logf("%s/%s: %s", r.Workload, r.Contender, r.Err)
					continue
				}
				if r.Workload == "S" {
					checkStore(t, r)
					continue
				}
				checkResult(t, r)
			}
			checkPlacement(t, o.s, w.ID)
			if err := writeReport(o.dir, o.s); err != nil {
				t.Fatal(err)
			}
			report, err := os.ReadFile(filepath.Join(o.dir, "RESULTS.md"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(report), "## "+w.ID+" — ") {
				t.Errorf("RESULTS.md has no table for %s", w.ID)
			}
		})
	}
}

func checkResult(t *testing.T, r *result) {
	t.Helper()
	who := r.Workload + "/" + r.Contender
	if r.Err != "" {
		t.Fatalf("%s failed: %s", who, r.Err)
	}
	for name, ph := range r.Phases {
		if (ph.OK != ph.N && !ph.Windowed) || ph.Errors != 0 {
			t.Errorf("%s phase %s: %d of %d succeeded (%s)", who, name, ph.OK, ph.N, ph.FirstErr)
		}
		if ph.Rate <= 0 || ph.Wall <= 0 {
			t.Errorf("%s phase %s: rate %g over %gs", who, name, ph.Rate, ph.Wall)
		}
		h := histOf(ph)
		if h == nil || h.TotalCount() != int64(ph.OK) || h.ValueAtQuantile(50) <= 0 {
			t.Errorf("%s phase %s: latency histogram missing or wrong", who, name)
		}
		if ph.Allocs <= 0 {
			t.Errorf("%s phase %s: %g allocations per operation", who, name, ph.Allocs)
		}
		nodes := nodesOf[r.Workload]
		if r.Workload == "C4" {
			nodes, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "n"), "_remote"))
		}
		checkCPU(t, who+" phase "+name, ph, nodes)
	}
	switch r.Workload {
	case "M":
		if ph := r.Phases[phActivate]; ph.HeapPer <= 0 || ph.HeapPer > 1<<20 {
			t.Errorf("%s: %g heap bytes per activation", who, ph.HeapPer)
		}
	case "R1":
		for _, k := range []string{"join_ids_moved", "leave_ids_moved"} {
			if v := r.Values[k]; v <= 0 || v >= 1 {
				t.Errorf("%s: %s = %g, want a share in (0, 1)", who, k, v)
			}
		}
		if r.Contender == meshC {
			if v := r.Values["join_shards_moved"]; v < 0.1 || v > 0.5 {
				t.Errorf("%s: %.3f of the shards moved on a join of a 4th node", who, v)
			}
			checkHandoff(t, who, r)
		}
		if r.Contender == peer {
			for _, pfx := range []string{"join_", "leave_"} {
				if moved, lost := r.Values[pfx+"moved"], r.Values[pfx+"state_lost"]; moved <= 0 || lost != moved {
					t.Errorf("%s: %s %g moved IDs, %g lost their state: the peer has no handoff", who, pfx, moved, lost)
				}
			}
		}
	case "R2":
		for _, k := range []string{"kill_all_ok_s", "leave_all_ok_s"} {
			if v, ok := r.Values[k]; !ok || v < 0 {
				t.Errorf("%s: %s = %g: the victim's IDs never answered from another node", who, k, v)
			}
		}
	}
	if len(r.Phases) == 0 && len(r.Values) == 0 {
		t.Errorf("%s reported nothing", who)
	}
}

// checkStore checks one store's run of S: every save and restore done,
// each timed.
// checkHandoff checks that every moved state of R1 on mesh was handed off
// and came back on its new owner.
func checkHandoff(t *testing.T, who string, r *result) {
	t.Helper()
	for _, pfx := range []string{"join_", "leave_"} {
		v := func(k string) float64 { return r.Values[pfx+k] }
		if v("moved") <= 0 {
			t.Errorf("%s: %s no ID moved", who, pfx)
		}
		if v("state_lost") != 0 || v("unanswered") != 0 {
			t.Errorf("%s: %s %g of %g moved IDs lost their state, %g never answered", who, pfx, v("state_lost"), v("moved"), v("unanswered"))
		}
		if v("handed_off") < v("moved") || v("handoffs_per_s") <= 0 || v("state_s") < v("converge_s") {
			t.Errorf("%s: %s %g states handed off of %g moved, %g/s, answered after %gs (converged %gs)",
				who, pfx, v("handed_off"), v("moved"), v("handoffs_per_s"), v("state_s"), v("converge_s"))
		}
	}
}

// TestR1Handoff runs R1 at the smoke size: on mesh every moved counter
// answers on its new owner with its count, on the peer every one
// restarts.
func TestR1Handoff(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for membership changes")
	}
	s, err := runSuite(os.Args[0], smokeParams(), t.TempDir(), selection{workloads: []string{"R1"}, contenders: []string{meshC, peer}}, false, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Results) != 2 {
		t.Fatalf("%d results", len(s.Results))
	}
	for _, r := range s.Results {
		checkResult(t, r)
		for _, k := range []string{"join_", "leave_"} {
			v := r.Values
			t.Logf("%s %s%g moved, %g handed off in %.3fs (%.0f/s), all answered after %.3fs, %g lost their state, %g calls failed",
				r.Contender, k, v[k+"moved"], v[k+"handed_off"], v[k+"handoff_s"], v[k+"handoffs_per_s"], v[k+"state_s"], v[k+"state_lost"], v[k+"failed"])
		}
	}
}

func checkStore(t *testing.T, r *result) {
	t.Helper()
	who := r.Workload + "/" + r.Contender
	if r.Err != "" {
		t.Fatalf("%s failed: %s", who, r.Err)
	}
	for _, name := range []string{savePhase(1), savePhase(64), phRestore} {
		ph, ok := r.Phases[name]
		if !ok {
			t.Errorf("%s: no phase %s", who, name)
			continue
		}
		if ph.OK != ph.N || ph.Errors != 0 || ph.N == 0 {
			t.Errorf("%s phase %s: %d of %d succeeded (%s)", who, name, ph.OK, ph.N, ph.FirstErr)
		}
		if ph.Rate <= 0 || ph.Wall <= 0 {
			t.Errorf("%s phase %s: rate %g over %gs", who, name, ph.Rate, ph.Wall)
		}
		if h := histOf(ph); h == nil || h.TotalCount() != int64(ph.OK) || h.ValueAtQuantile(50) <= 0 {
			t.Errorf("%s phase %s: latency histogram missing or wrong", who, name)
		}
	}
}

// nodesOf is the number of node processes of the multi-node workloads
// with timed phases; the others run on one.
var nodesOf = map[string]int{"C1": 3, "C2": 4, "C3": 3}

// checkCPU checks a timed phase's CPU figures: one per node process, each
// positive, the caller's first, and their sum the figure for all
// processes; across nodes the sum exceeds the caller's share, since the
// other nodes serve calls, and on one node it equals it.
func checkCPU(t *testing.T, who string, ph phaseResult, nodes int) {
	t.Helper()
	nodes = max(nodes, 1)
	if ph.CallerCPU <= 0 || ph.CPU < ph.CallerCPU {
		t.Errorf("%s: CPU per operation %g µs over all processes, %g µs in the caller: want 0 < caller <= all", who, ph.CPU, ph.CallerCPU)
	}
	if len(ph.NodeCPU) != nodes {
		t.Fatalf("%s: CPU of %d node processes, want %d", who, len(ph.NodeCPU), nodes)
	}
	sum := 0.0
	for i, v := range ph.NodeCPU {
		if v <= 0 {
			t.Errorf("%s: node %d: CPU per operation %g µs", who, i+1, v)
		}
		sum += v
	}
	if ph.NodeCPU[0] != ph.CallerCPU {
		t.Errorf("%s: node 1 (the caller) %g µs, caller's share %g µs", who, ph.NodeCPU[0], ph.CallerCPU)
	}
	if math.Abs(sum-ph.CPU) > 1e-9*sum {
		t.Errorf("%s: node processes sum to %g µs, all processes %g µs", who, sum, ph.CPU)
	}
	if nodes > 1 && ph.CPU <= ph.CallerCPU {
		t.Errorf("%s: %d node processes but CPU %g µs is only the caller's", who, nodes, ph.CPU)
	}
	if nodes == 1 && ph.CPU != ph.CallerCPU {
		t.Errorf("%s: one process but CPU %g µs over all, %g µs in the caller", who, ph.CPU, ph.CallerCPU)
	}
	if ph.CPUWindow < ph.Wall {
		t.Errorf("%s: CPU read over %gs, shorter than the phase's %gs", who, ph.CPUWindow, ph.Wall)
	}
}

// checkPlacement checks that on C1 and C4 every contender that places IDs
// itself serves the same share on the calling node as mesh, and that mesh
// places every ID where they do.
func checkPlacement(t *testing.T, s *suite, w string) {
	t.Helper()
	key := "local_share"
	switch w {
	case "C1":
	case "C4":
		key += "_" + scalePhase(s.Params.ScaleNodes[len(s.Params.ScaleNodes)-1])
	default:
		return
	}
	want := -1.0
	for _, r := range s.Results {
		if r.Contender == meshC {
			want = r.Values[key]
			if w == "C1" && r.Values["placement_same"] != 1 {
				t.Errorf("%s: mesh placed %.3f of the IDs where the others do", w, r.Values["placement_same"])
			}
		}
	}
	if want <= 0 || want >= 1 {
		t.Fatalf("%s: mesh's share on the calling node %g, want one in (0, 1)", w, want)
	}
	for _, r := range s.Results {
		if got, ok := r.Values[key]; placesIDs(r.Contender) && (!ok || got != want) {
			t.Errorf("%s/%s: %g of the IDs on the calling node, mesh %g", w, r.Contender, got, want)
		}
	}
}

// synthetic is a suite of one workload's single-phase results: rates[c]
// holds contender c's rate in each round.
func synthetic(w, phase string, rates map[string][]float64) *suite {
	s := &suite{Params: smokeParams()}
	for c, rs := range rates {
		for i, v := range rs {
			s.Results = append(s.Results, &result{Workload: w, Contender: c, Round: i + 1,
				Phases: map[string]phaseResult{phase: {Name: phase, N: 1, OK: 1, Rate: v}}})
		}
	}
	return s
}

// TestCeilingSuspect checks that the report calls the fair ceiling wrong
// when mesh passes it on B5 by more than noise, and only then.
func TestCeilingSuspect(t *testing.T) {
	for _, tc := range []struct {
		mesh, ceil []float64
		suspect    bool
	}{
		{[]float64{100, 100, 100}, []float64{100, 105, 98}, false},
		{[]float64{80, 90, 85}, []float64{100, 100, 100}, false},
		{[]float64{109, 108, 110}, []float64{100, 100, 100}, false},
		{[]float64{150, 130, 160}, []float64{100, 100, 100}, true},
		{[]float64{150, 90, 130}, []float64{100, 100, 100}, true},
	} {
		s := synthetic("B5", phCall, map[string][]float64{meshC: tc.mesh, ceiling: tc.ceil})
		msg, suspect := ceilingSuspect(s)
		if suspect != tc.suspect {
			t.Errorf("mesh %v, ceiling %v: suspect %v (%q), want %v", tc.mesh, tc.ceil, suspect, msg, tc.suspect)
		}
		dir := t.TempDir()
		if err := writeReport(dir, s); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), "**ceiling wrong**"); got != tc.suspect {
			t.Errorf("mesh %v, ceiling %v: report flags the ceiling: %v, want %v", tc.mesh, tc.ceil, got, tc.suspect)
		}
	}
}

// TestPercentileSamples checks the rule for quoting a percentile: at
// least 100 samples beyond it.
func TestPercentileSamples(t *testing.T) {
	for _, tc := range []struct {
		count int64
		q     float64
		ok    bool
	}{
		{199, 50, false}, {200, 50, true}, {9_999, 99, false}, {10_000, 99, true},
		{1_999, 95, false}, {2_000, 95, true}, {100_000, 99.9, true}, {99_999, 99.9, false},
	} {
		if got := enoughBeyond(tc.count, tc.q); got != tc.ok {
			t.Errorf("%d samples, p%g: quoted %v, want %v", tc.count, tc.q, got, tc.ok)
		}
	}
	h := hdrhistogram.New(1, int64(time.Minute), 3)
	for i := range 5_000 {
		_ = h.RecordValue(int64(1000 + i))
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	r := &result{Phases: map[string]phaseResult{phCall: {Name: phCall, N: 5000, OK: 5000, Hist: string(enc)}}}
	if v, ok := quantileUS(phCall, 99)(r); !ok || !math.IsNaN(v) {
		t.Errorf("p99 of 5,000 samples = %g, want n/a", v)
	}
	if v, ok := quantileUS(phCall, 50)(r); !ok || math.IsNaN(v) || v <= 0 {
		t.Errorf("p50 of 5,000 samples = %g, want a figure", v)
	}
}

// TestReportOlderResults checks that -report reads a results.json of the
// earlier format: no payload sizes, "ceiling" meaning raw protoactor with
// RequestFuture, and profiles named that are not on disk.
func TestReportOlderResults(t *testing.T) {
	s := synthetic("B5", phCall, map[string][]float64{meshC: {100, 110}, ceiling: {90, 95}})
	s.Format, s.Params.Payloads, s.Params.ScaleNodes = 0, nil, nil
	s.Profiles = map[string][]string{"B5": {filepath.Join("profiles", "B5.pprof")}}
	upgrade(s)
	for _, r := range s.Results {
		if r.Contender == ceiling {
			t.Fatalf("round %d: an older file's ceiling still reads as the fair ceiling", r.Round)
		}
	}
	dir := t.TempDir()
	if err := writeReport(dir, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "protoactor (RequestFuture)") || strings.Contains(string(b), "| fair ceiling |") {
		t.Error("the report does not show an older file's ceiling as protoactor (RequestFuture)")
	}
}

// TestMerge runs two workloads, then one of them again with -merge: the
// results on disk and the report keep the first run's other workload and
// metadata, and take the rerun's results and parameters.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	p := smokeParams()
	both := selection{workloads: []string{"B2", "B6"}, contenders: []string{meshC}}
	first, err := runAndSave(os.Args[0], p, dir, both, false, false, "", logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	p.B6Calls = 60
	b6 := selection{workloads: []string{"B6"}, contenders: []string{meshC}}
	if _, err := runAndSave(os.Args[0], p, dir, b6, false, true, "", logWriter{t}); err != nil {
		t.Fatal(err)
	}
	s, err := readSuite(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Started.Equal(first.Started) || s.Duration != first.Duration || s.Params.B6Calls != 60 {
		t.Errorf("merged suite started %v for %gs with %d B6 calls, want the first run's start %v and duration %gs, the rerun's 60 calls",
			s.Started, s.Duration, s.Params.B6Calls, first.Started, first.Duration)
	}
	if len(s.Results) != 2 || s.Results[0].Workload != "B2" || s.Results[1].Workload != "B6" {
		t.Fatalf("merged results %v, want B2 then B6", s.Results)
	}
	if got, want := s.Results[0].Phases[phCall].Rate, first.Results[0].Phases[phCall].Rate; got != want {
		t.Errorf("B2 rate %g after the merge, was %g", got, want)
	}
	if n := s.Results[1].Phases[phCall].N; n != 60 {
		t.Errorf("B6 ran %d calls after the merge, want the rerun's 60", n)
	}
	if len(s.Reruns) != 1 || !slices.Equal(s.Reruns[0].Workloads, []string{"B6"}) || !slices.Equal(s.Reruns[0].Changed, []string{"b6_calls: 100 → 60"}) {
		t.Errorf("reruns %+v, want B6 with b6_calls changed", s.Reruns)
	}
	report, err := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## B2 — ", "## B6 — ", "merged into this run's results: B6 (mesh)", "b6_calls: 100 → 60"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	p.Mode = "quick"
	if _, err := runAndSave(os.Args[0], p, dir, b6, false, true, "", logWriter{t}); !errors.Is(err, errMergeMode) {
		t.Errorf("merging a quick run into a smoke one: %v, want errMergeMode", err)
	}
	if _, err := runAndSave(os.Args[0], p, t.TempDir(), b6, false, true, "", logWriter{t}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("merging into a directory without results.json: %v, want not exist", err)
	}
}
