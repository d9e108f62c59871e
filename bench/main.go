// Command bench runs mesh's benchmark suite: the eigr/mesh workloads and
// ours against mesh (through its public API, and with mutual TLS across
// nodes), the fair ceiling (the same protoactor-go actors with mesh's
// dispatcher and reply paths, no routing), raw protoactor-go with
// RequestFuture, the wire limit (raw gRPC streams, across nodes) and
// protoactor-go's own cluster package (the peer), in one run, side by
// side; on B5 and C1 also mesh saving on change to SQLite and PostgreSQL,
// and in S the stores on their own (PostgreSQL where postgresEnv names a
// database). Every node is its own OS process: this binary started again in the
// node role. It writes RESULTS.md, charts and CPU profiles of mesh into
// the output directory, and the raw results as results.json (not
// committed), from which -report rewrites RESULTS.md. With -merge it runs
// only the -only workloads and merges their results into results.json,
// keeping the others.
//
// Usage:
//
//	go build -o meshbench ./bench && ./meshbench -mode quick -out bench
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	if os.Getenv(roleEnv) == "node" {
		os.Exit(runNode())
	}
	mode := flag.String("mode", "quick", "quick or full")
	out := flag.String("out", "bench", "directory for RESULTS.md, charts and profiles")
	only := flag.String("only", "", "comma-separated workload IDs to run (default all)")
	cont := flag.String("contenders", "", "comma-separated contenders to run: mesh, mesh+tls, mesh+save, mesh+save-pg, ceiling, rf, wire, peer; S's stores memory, sqlite-full, sqlite-normal, postgres (default all)")
	rounds := flag.Int("rounds", 0, "override the rounds of every workload")
	profile := flag.Bool("profile", true, "profile mesh on B1, B5 and C1")
	reportOnly := flag.Bool("report", false, "only rewrite RESULTS.md and charts from results.json")
	mergeRun := flag.Bool("merge", false, "run the selected workloads (-only) and merge their results into the -out directory's results.json, replacing theirs and keeping the others")
	readme := flag.String("readme", "", "a `file` (the repository's README.md) whose targets table, between its markers, is rewritten from the run")
	flag.Parse()

	if *reportOnly {
		s, err := readSuite(*out)
		if err == nil {
			err = writeReport(*out, s)
		}
		if err == nil && *readme != "" {
			err = writeReadme(*readme, s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}

	var p params
	switch *mode {
	case "quick":
		p = quickParams()
	case "full":
		p = fullParams()
	case "smoke":
		p = smokeParams()
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown mode %q\n", *mode)
		os.Exit(2)
	}
	if *rounds > 0 {
		p.Rounds, p.ClusterRounds, p.RRounds = *rounds, *rounds, *rounds
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	sel := selection{workloads: splitList(*only)}
	for _, c := range splitList(*cont) {
		sel.contenders = append(sel.contenders, strings.ToLower(c))
	}
	if *mergeRun && len(sel.workloads) == 0 {
		fmt.Fprintln(os.Stderr, "bench: -merge needs -only")
		os.Exit(2)
	}
	start := time.Now()
	if _, err := runAndSave(exe, p, *out, sel, *profile, *mergeRun, *readme, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %v\n", filepath.Join(*out, "RESULTS.md"), time.Since(start).Round(time.Second))
}

// runAndSave runs the selected workloads, merges their results into
// out's results.json if merging (else replaces it), and writes the report
// from the result, and the readme's targets table if readme is set.
func runAndSave(exe string, p params, out string, sel selection, profile, merging bool, readme string, progress io.Writer) (*suite, error) {
	var base *suite
	if merging {
		var err error
		if base, err = readSuite(out); err != nil {
			return nil, err
		}
		if err := checkMerge(base, p.Mode); err != nil {
			return nil, err
		}
	}
	s, err := runSuite(exe, p, out, sel, profile, progress)
	if err != nil {
		return nil, err
	}
	if base != nil {
		s = merge(base, s)
	}
	if err := saveSuite(out, s); err != nil {
		return nil, err
	}
	if err := writeReport(out, s); err != nil {
		return nil, err
	}
	if readme != "" {
		if err := writeReadme(readme, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, strings.ToUpper(f))
		}
	}
	return out
}

// suiteFormat is the version of results.json this program writes. In
// format 0 (no field) "ceiling" named raw protoactor with RequestFuture,
// which is now "rf".
const suiteFormat = 1

// upgrade reads an older results.json in the current format's terms.
func upgrade(s *suite) {
	if s.Format >= 1 {
		return
	}
	for _, r := range s.Results {
		if r.Contender == ceiling {
			r.Contender = futures
		}
	}
	s.Format = suiteFormat
}

// suite is everything one run measured.
type suite struct {
	Format   int       `json:"format,omitempty"`
	Params   params    `json:"params"`
	Machine  machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_s"`
	Results  []*result `json:"results"`
	// StoreFS is the file system of the run's SQLite files ("" if not
	// known).
	StoreFS string `json:"store_fs,omitempty"`
	// Profiles maps a workload to its CPU profile files, relative to the
	// output directory.
	Profiles map[string][]string `json:"profiles,omitempty"`
	// Reruns are later runs of some workloads merged in (-merge).
	Reruns []rerun `json:"reruns,omitempty"`
}

// selection restricts a run to some workloads and contenders; empty
// means all.
type selection struct {
	workloads, contenders []string
}

// runSuite runs the selected workloads, writing profiles into outDir;
// saveSuite saves what it returns.
func runSuite(exe string, p params, outDir string, sel selection, profile bool, progress io.Writer) (*suite, error) {
	tmp, err := tempDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	r := &runner{exe: exe, tmp: tmp, p: p, out: progress, start: time.Now(), pgURL: os.Getenv(postgresEnv)}
	s := &suite{Format: suiteFormat, Params: p, Machine: readMachine(), Started: r.start, Profiles: map[string][]string{}, StoreFS: fsType(tmp)}

	var ws []workload
	steps := 0
	for _, w := range workloads() {
		if len(sel.workloads) > 0 && !slices.Contains(sel.workloads, w.ID) {
			continue
		}
		if len(sel.contenders) > 0 {
			w.Contenders = slices.DeleteFunc(slices.Clone(w.Contenders), func(c string) bool { return !slices.Contains(sel.contenders, c) })
			if len(w.Contenders) == 0 {
				continue
			}
		}
		ws = append(ws, w)
		steps += w.Rounds(p) * len(w.Contenders)
	}
	r.logf("bench %s: %d workloads, %d runs; machine: %d cores, %s", p.Mode, len(ws), steps, s.Machine.Cores, s.Machine.Go)
	step := 0
	for _, w := range ws {
		n := w.Rounds(p)
		for round := range n {
			for _, c := range contendersOf(w, round) {
				step++
				t0 := time.Now()
				load := loadAverage()
				var res *result
				var err error
				if needsPostgres(c) && r.pgURL == "" {
					err = errors.New(notRunPG) // never a figure without a server
				} else {
					res, err = w.Run(r, c, "")
				}
				if res == nil {
					res = &result{}
				}
				res.Workload, res.Contender, res.Round, res.Load = w.ID, c, round+1, load
				if err != nil {
					res.Err = err.Error()
				}
				s.Results = append(s.Results, res)
				r.logf("[%d/%d] %s round %d/%d %-7s %s (%.1fs)", step, steps, w.ID, round+1, n, c, headline(w.ID, res), time.Since(t0).Seconds())
			}
		}
		if profile && slices.Contains([]string{"B1", "B5", "C1"}, w.ID) && slices.Contains(w.Contenders, meshC) {
			dir := filepath.Join(outDir, "profiles")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			file := filepath.Join(dir, w.ID+".pprof")
			abs, _ := filepath.Abs(file)
			r.logf("%s: profiling mesh", w.ID)
			pr := *r
			pr.p = profileParams(p)
			if _, err := w.Run(&pr, meshC, abs); err != nil {
				r.logf("%s: profiled run failed: %v", w.ID, err)
				continue
			}
			s.Profiles[w.ID] = []string{filepath.Join("profiles", w.ID+".pprof")}
			if w.ID == "C1" {
				s.Profiles[w.ID] = append(s.Profiles[w.ID], filepath.Join("profiles", w.ID+"-server.pprof"))
			}
		}
	}
	s.Duration = time.Since(r.start).Seconds()
	return s, nil
}

// headline is the one-line progress summary of a result.
func headline(w string, res *result) string {
	if res.Err == notRunPG {
		return res.Err
	}
	if res.Err != "" {
		msg := res.Err
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return "FAILED: " + msg
	}
	var parts []string
	for _, name := range []string{phActivate, phCall} {
		if ph, ok := res.Phases[name]; ok {
			part := fmt.Sprintf("%s %s/s", name, commas(ph.Rate))
			if ph.Errors > 0 {
				part += fmt.Sprintf(" (%d errors)", ph.Errors)
			}
			if ph.CPU > 0 {
				part += fmt.Sprintf(", CPU %s/op (caller %s)", fmtUS(ph.CPU), fmtUS(ph.CallerCPU))
			}
			if ph.HeapPer != 0 {
				part += fmt.Sprintf(", heap %.0f B/act", ph.HeapPer)
			}
			parts = append(parts, part)
		}
	}
	switch w {
	case "S":
		for _, name := range []string{savePhase(1), savePhase(64), phRestore} {
			if ph, ok := res.Phases[name]; ok {
				parts = append(parts, fmt.Sprintf("%s %s/s", name, commas(ph.Rate)))
			}
		}
	case "C4":
		for _, name := range slices.Sorted(maps.Keys(res.Phases)) {
			if ph := res.Phases[name]; ph.CPU > 0 {
				parts = append(parts, fmt.Sprintf("%s %s/s, CPU %s/op", name, commas(ph.Rate), fmtUS(ph.CPU)))
			}
		}
	case "R1":
		parts = append(parts, fmt.Sprintf("join: %.1f%% IDs moved, %g failed calls; leave: %g failed",
			100*res.Values["join_ids_moved"], res.Values["join_failed"], res.Values["leave_failed"]))
		if _, ok := res.Values["join_handoffs_per_s"]; ok {
			parts = append(parts, fmt.Sprintf("handoffs: join %s/s, leave %s/s; state lost: %g, %g",
				commas(res.Values["join_handoffs_per_s"]), commas(res.Values["leave_handoffs_per_s"]), res.Values["join_state_lost"], res.Values["leave_state_lost"]))
		}
	case "R2":
		parts = append(parts, fmt.Sprintf("kill: first success %.2fs, all %.2fs, %g failed; leave: %.2fs, %g failed",
			res.Values["kill_first_ok_s"], res.Values["kill_all_ok_s"], res.Values["kill_failed"],
			res.Values["leave_first_ok_s"], res.Values["leave_failed"]))
	}
	return strings.Join(parts, "; ")
}
