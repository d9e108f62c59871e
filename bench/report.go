package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// row is one figure of a workload's table.
type row struct {
	label string
	// higher is better (throughput); otherwise lower is (latency, memory).
	higher bool
	format func(float64) string
	// eigr is eigr/mesh's published figure, "" when none.
	eigr string
	get  func(*result) (float64, bool)
	// noRatio hides the ratio columns (counts, shares).
	noRatio bool
	// only restricts the row to some contenders.
	only []string
}

func fmtRate(x float64) string { return commas(x) + "/s" }
func fmtUS(x float64) string {
	if x < 100 {
		return fmt.Sprintf("%.1f µs", x)
	}
	return commas(x) + " µs"
}
func fmtBytes(x float64) string { return commas(x) + " B" }
func fmtF1(x float64) string    { return fmt.Sprintf("%.1f", x) }
func fmtF2(x float64) string    { return fmt.Sprintf("%.2f", x) }
func fmtPct(x float64) string   { return fmt.Sprintf("%.1f%%", 100*x) }
func fmtSec(x float64) string {
	if x < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2f s", x)
}
func fmtCount(x float64) string { return commas(x) }

func phaseGet(name string, f func(phaseResult) (float64, bool)) func(*result) (float64, bool) {
	return func(r *result) (float64, bool) {
		ph, ok := r.Phases[name]
		if !ok || ph.OK == 0 {
			return 0, false
		}
		return f(ph)
	}
}

func rate(name string) func(*result) (float64, bool) {
	return phaseGet(name, func(ph phaseResult) (float64, bool) { return ph.Rate, true })
}

// quantileUS is the latency at quantile q (0-100) in microseconds.
func quantileUS(name string, q float64) func(*result) (float64, bool) {
	return phaseGet(name, func(ph phaseResult) (float64, bool) {
		h := histOf(ph)
		if h == nil || h.TotalCount() == 0 {
			return 0, false
		}
		if q >= 100 {
			return float64(h.Max()) / 1e3, true
		}
		return float64(h.ValueAtQuantile(q)) / 1e3, true
	})
}

func allocs(name string) func(*result) (float64, bool) {
	return phaseGet(name, func(ph phaseResult) (float64, bool) { return ph.Allocs, true })
}

// cpuPer is the CPU time per operation of every process of the run.
func cpuPer(name string) func(*result) (float64, bool) {
	return phaseGet(name, func(ph phaseResult) (float64, bool) { return ph.CPU, ph.CPU > 0 })
}

// callerCPUPer is the calling process's share of cpuPer.
func callerCPUPer(name string) func(*result) (float64, bool) {
	return phaseGet(name, func(ph phaseResult) (float64, bool) { return ph.CallerCPU, ph.CallerCPU > 0 })
}

// cpuRows are the CPU figures of a phase: the sum over every process
// first, then the calling process's share of it.
func cpuRows(name, op string) []row {
	return []row{
		{label: "CPU per " + op + ", all processes", format: fmtUS, get: cpuPer(name)},
		{label: "CPU per " + op + ", caller's share", format: fmtUS, get: callerCPUPer(name)},
	}
}

func value(key string) func(*result) (float64, bool) {
	return func(r *result) (float64, bool) {
		v, ok := r.Values[key]
		return v, ok
	}
}

func throughputRows(name, what, eigr string) []row {
	op := strings.TrimSuffix(what, "s")
	rows := []row{
		{label: what + " per second", higher: true, format: fmtRate, eigr: eigr, get: rate(name)},
		{label: "p50 latency under load", format: fmtUS, get: quantileUS(name, 50)},
		{label: "p99 latency under load", format: fmtUS, get: quantileUS(name, 99)},
	}
	rows = append(rows, cpuRows(name, op)...)
	return append(rows, row{label: "heap allocations per " + op + " (caller only)", format: fmtF1, get: allocs(name)})
}

func curveRows() []row {
	var rows []row
	for _, c := range curveCallers {
		label := fmt.Sprintf("calls per second, %d callers", c)
		if c == 1 {
			label = "calls per second, 1 caller"
		}
		rows = append(rows, row{label: label, higher: true, format: fmtRate, get: rate(curvePhase(c))})
	}
	return rows
}

// tableOf returns the rows of workload id.
func tableOf(id string) []row {
	switch id {
	case "B1":
		return throughputRows(phActivate, "activations", "16,428/s")
	case "B2":
		return throughputRows(phCall, "calls", "11,904/s")
	case "B4":
		return throughputRows(phActivate, "activations", "")
	case "B5":
		return append(throughputRows(phCall, "calls", "30,558/s"), curveRows()...)
	case "B6":
		return []row{
			{label: "p50 latency", format: fmtUS, eigr: "15–30 µs", get: quantileUS(phCall, 50)},
			{label: "p95 latency", format: fmtUS, eigr: "60–95 µs", get: quantileUS(phCall, 95)},
			{label: "p99 latency", format: fmtUS, eigr: "100–150 µs", get: quantileUS(phCall, 99)},
			{label: "max latency", format: fmtUS, get: quantileUS(phCall, 100)},
			{label: "sequential calls per second", higher: true, format: fmtRate, get: rate(phCall)},
		}
	case "M":
		return []row{
			{label: "live heap per idle activation", format: fmtBytes, eigr: "~11 KB",
				get: phaseGet(phActivate, func(ph phaseResult) (float64, bool) { return ph.HeapPer, true })},
			{label: "RSS per idle activation", format: fmtBytes,
				get: phaseGet(phActivate, func(ph phaseResult) (float64, bool) { return ph.RSSPer, true })},
			{label: "goroutines per idle activation", format: fmtF2, noRatio: true,
				get: phaseGet(phActivate, func(ph phaseResult) (float64, bool) { return ph.GoroutinePer, true })},
			{label: "activations per second", higher: true, format: fmtRate, get: rate(phActivate)},
		}
	case "C1":
		return append(throughputRows(phCall, "calls", ""), curveRows()...)
	case "C2":
		rows := []row{
			{label: "activations per second", higher: true, format: fmtRate, get: rate(phActivate)},
			{label: "p99 activation latency under load", format: fmtUS, get: quantileUS(phActivate, 99)},
		}
		rows = append(rows, cpuRows(phActivate, "activation")...)
		rows = append(rows,
			row{label: "calls per second", higher: true, format: fmtRate, get: rate(phCall)},
			row{label: "p50 call latency under load", format: fmtUS, get: quantileUS(phCall, 50)},
			row{label: "p99 call latency under load", format: fmtUS, get: quantileUS(phCall, 99)})
		return append(rows, cpuRows(phCall, "call")...)
	case "R1":
		return []row{
			{label: "join: shards moved (1/(N+1) = 25.0%)", format: fmtPct, get: value("join_shards_moved"), noRatio: true, only: []string{meshC}},
			{label: "join: IDs served by another node afterwards", format: fmtPct, get: value("join_ids_moved"), noRatio: true},
			{label: "join: activations stopped on the 3 old nodes", format: fmtCount, get: value("join_stopped"), noRatio: true},
			{label: "join: calls failed during the change", format: fmtCount, get: value("join_failed"), noRatio: true},
			{label: "join: calls made during the change", format: fmtCount, get: value("join_calls"), noRatio: true},
			{label: "join: slowest call during the change", format: fmtSec, get: value("join_max_latency_s"), noRatio: true},
			{label: "join: until every node sees 4 members", format: fmtSec, get: value("join_converge_s")},
			{label: "leave: shards moved", format: fmtPct, get: value("leave_shards_moved"), noRatio: true, only: []string{meshC}},
			{label: "leave: IDs served by another node afterwards", format: fmtPct, get: value("leave_ids_moved"), noRatio: true},
			{label: "leave: calls failed during the change", format: fmtCount, get: value("leave_failed"), noRatio: true},
			{label: "leave: slowest call during the change", format: fmtSec, get: value("leave_max_latency_s"), noRatio: true},
			{label: "leave: until every node sees 3 members", format: fmtSec, get: value("leave_converge_s")},
		}
	case "R2":
		return []row{
			{label: "kill -9: IDs the killed node served", format: fmtCount, get: value("kill_ids"), noRatio: true},
			{label: "kill -9: to the first success of one of them", format: fmtSec, get: value("kill_first_ok_s")},
			{label: "kill -9: to a success for every one of them", format: fmtSec, get: value("kill_all_ok_s")},
			{label: "kill -9: calls failed (1 s deadline each)", format: fmtCount, get: value("kill_failed"), noRatio: true},
			{label: "kill -9: calls made", format: fmtCount, get: value("kill_calls"), noRatio: true},
			{label: "leave: to the first success elsewhere", format: fmtSec, get: value("leave_first_ok_s")},
			{label: "leave: to a success for every ID elsewhere", format: fmtSec, get: value("leave_all_ok_s")},
			{label: "leave: calls failed", format: fmtCount, get: value("leave_failed"), noRatio: true},
			{label: "leave: calls made", format: fmtCount, get: value("leave_calls"), noRatio: true},
			{label: "leave: slowest call", format: fmtSec, get: value("leave_max_latency_s"), noRatio: true},
		}
	}
	return nil
}

// figures collects a row's value over the rounds of one contender.
func figures(s *suite, w, contender string, rw row) (spread, bool) {
	var vs []float64
	for _, r := range s.Results {
		if r.Workload != w || r.Contender != contender || r.Err != "" {
			continue
		}
		if v, ok := rw.get(r); ok && !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	return spreadOf(vs)
}

func cell(sp spread, ok bool, f func(float64) string) string {
	if !ok {
		return "–"
	}
	if sp.N == 1 || sp.Min == sp.Max {
		return f(sp.Median)
	}
	return fmt.Sprintf("%s <sub>%s–%s</sub>", f(sp.Median), f(sp.Min), f(sp.Max))
}

// roundRatios divides mesh's figure by other's round by round: the
// contenders of one round run back to back, so they share the machine's
// conditions, which drift between rounds.
func roundRatios(s *suite, w, other string, get func(*result) (float64, bool)) (spread, bool) {
	byRound := map[int]float64{}
	for _, r := range s.Results {
		if r.Workload == w && r.Contender == other && r.Err == "" {
			if v, ok := get(r); ok && v != 0 {
				byRound[r.Round] = v
			}
		}
	}
	var rs []float64
	for _, r := range s.Results {
		if r.Workload == w && r.Contender == meshC && r.Err == "" {
			d, ok := byRound[r.Round]
			if v, vok := get(r); vok && ok {
				rs = append(rs, v/d)
			}
		}
	}
	return spreadOf(rs)
}

// fmtRatio prints a ratio with two decimals, or two significant digits when
// it is below 0.1 (a fixed two decimals showed 0.0012 as "0.00×", which
// reads as zero), and without decimals from 100 up.
func fmtRatio(x float64) string {
	switch {
	case x <= 0 || math.IsInf(x, 0) || math.IsNaN(x):
		return fmt.Sprintf("%g×", x)
	case x >= 100:
		return commas(x) + "×"
	case x >= 0.1:
		return fmt.Sprintf("%.2f×", x)
	}
	return fmt.Sprintf("%.*f×", 1-int(math.Floor(math.Log10(x))), x)
}

func ran(s *suite, w string) bool {
	for _, r := range s.Results {
		if r.Workload == w {
			return true
		}
	}
	return false
}

// multiNode lists the workloads that run several node processes at once.
var multiNode = []string{"C1", "C2", "R1", "R2"}

// writeLoad reports the machine's load average when the runs began, for
// single-node and multi-node workloads apart: it counts the benchmark's own
// processes, so it shows other work only where it stands above what those
// account for.
func writeLoad(b *strings.Builder, s *suite) {
	var single, multi []float64
	for _, res := range s.Results {
		if slices.Contains(multiNode, res.Workload) {
			multi = append(multi, res.Load)
		} else {
			single = append(single, res.Load)
		}
	}
	var parts []string
	if l, ok := spreadOf(single); ok {
		parts = append(parts, fmt.Sprintf("median %.2f (%.2f–%.2f) on single-node workloads", l.Median, l.Min, l.Max))
	}
	if l, ok := spreadOf(multi); ok {
		parts = append(parts, fmt.Sprintf("median %.2f (%.2f–%.2f) on multi-node ones", l.Median, l.Min, l.Max))
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(b, " Load average (1 min) when runs began, on %d cores: %s. It counts the benchmark's own processes, which keep "+
		"the cores busy (one node process on a single-node workload, three or four on %s), so only load above theirs shows other work.",
		s.Machine.Cores, strings.Join(parts, ", "), strings.Join(multiNode, ", "))
}

// writeReport writes RESULTS.md and its charts into dir.
func writeReport(dir string, s *suite) error {
	charts, err := writeCharts(dir, s)
	if err != nil {
		return err
	}
	var b strings.Builder
	p := s.Params
	fmt.Fprintf(&b, "# mesh benchmark results (%s)\n\n", p.Mode)
	fmt.Fprintf(&b, "Generated by `scripts/bench.sh %s` on %s in %s. Do not edit: rerun the script.\n\n",
		p.Mode, s.Started.UTC().Format("2006-01-02 15:04 UTC"), time.Duration(s.Duration*float64(time.Second)).Round(time.Second))
	m := s.Machine
	fmt.Fprintf(&b, "**Machine:** %d cores (GOMAXPROCS %d), %s, %s", m.Cores, m.GOMAXPROCS, m.Go, m.OS)
	if m.CPU != "" {
		fmt.Fprintf(&b, ", %s", m.CPU)
	}
	if m.MemoryGiB > 0 {
		fmt.Fprintf(&b, ", %d GiB", m.MemoryGiB)
	}
	b.WriteString(". Shared machine: absolute figures drift by up to 2× between runs; the ratios, measured side by side in the same run, are the result.")
	writeLoad(&b, s)
	b.WriteString("\n\n")
	b.WriteString(`**Contenders.** *mesh*: this module through its public API (` + "`mesh.Call`" + `), 4096 shards, echo capability.
*ceiling*: raw protoactor-go with no routing: ` + "`SpawnNamed`" + ` + ` + "`RequestFuture`" + ` to a known PID, across nodes a remote spawn and
` + "`RequestFuture`" + ` to the known remote PID. It bounds protoactor's own request/response, not mesh: ` + "`RequestFuture`" + ` registers a future
process in protoactor's registry and starts a timer per call, where mesh answers a local call on a pooled channel and a remote one through one
reply process per node, so mesh can pass it, on one node by a wide margin.
*peer*: protoactor-go's own ` + "`cluster`" + ` package (virtual actors, disthash identity lookup, ` + "`cluster.Request`" + `), with the in-memory
test provider on one node and the automanaged provider across node processes (its health endpoint on loopback, polled every 1 s).
All three run the same echo process, the same payload (a ` + "`StringValue`" + `), a 5 s call timeout and the same remote queue sizes.

**Method.** Every workload runs in fresh node processes (multi-node workloads: one OS process per node on 127.0.0.1, started and
stopped by the benchmark), contenders interleaved round by round. Throughput is successful operations / wall time of the whole
batch, run by a bounded pool of concurrent callers; latency is per operation, in an HDR histogram. CPU per operation is user + system
time (getrusage in each process) over the timed batch, summed over every process of the contender: the calling node process, where
the callers run, and every other node process, which serve the IDs placed on them; the driver, which only waits, is not counted.
The caller's share is given beside it (on a single-node workload the caller is the only process, so both rows agree); heap
allocations are counted in the caller only. A cell reads
*median <sub>min–max</sub>* over the rounds. The ratio columns divide mesh's figure by the other's *round by round* (the contenders of a
round run back to back, so they share the machine's conditions) and give the median <sub>min–max</sub> of those ratios: above 1× is
better for mesh where higher is better (↑: throughput), below 1× where lower is better (↓: latency, memory, time).

`)
	fmt.Fprintf(&b, "**Parameters (%s):** rounds %d single-node, %d multi-node, %d for R1/R2; B1 %s activations (500 callers); "+
		"B2 %s calls (200); B4 %s activations over 3 capabilities (500); B5 %s IDs then %s calls (300); B6 %s sequential calls over %s IDs; "+
		"M %s activations (500); C1 %s calls over %s IDs (256); C2 %s activations then %s calls over 4 capabilities (500); "+
		"curves %s calls per point; R1 %s IDs; R2 %s IDs; every phase bounded by %gs.\n\n",
		p.Mode, p.Rounds, p.ClusterRounds, p.RRounds, commas(float64(p.B1)), commas(float64(p.B2)), commas(float64(p.B4)),
		commas(float64(p.B5IDs)), commas(float64(p.B5Calls)), commas(float64(p.B6Calls)), commas(float64(p.B6IDs)),
		commas(float64(p.M)), commas(float64(p.C1Calls)), commas(float64(p.C1IDs)), commas(float64(p.C2Acts)), commas(float64(p.C2Calls)),
		commas(float64(p.CurveN)), commas(float64(p.R1IDs)), commas(float64(p.R2IDs)), p.Limit)

	writeTargets(&b, s)

	for _, w := range workloads() {
		if !ran(s, w.ID) {
			continue
		}
		fmt.Fprintf(&b, "## %s — %s\n\n", w.ID, w.Title)
		b.WriteString("| figure | mesh | ceiling | peer | mesh/ceiling | mesh/peer | eigr/mesh |\n|---|---|---|---|---|---|---|\n")
		for _, rw := range tableOf(w.ID) {
			sps := map[string]spread{}
			oks := map[string]bool{}
			for _, c := range contenders {
				if rw.only != nil && !slices.Contains(rw.only, c) {
					continue
				}
				sps[c], oks[c] = figures(s, w.ID, c, rw)
			}
			dir := " ↓"
			if rw.higher {
				dir = " ↑"
			}
			if rw.noRatio {
				dir = ""
			}
			fmt.Fprintf(&b, "| %s%s | %s | %s | %s |", rw.label, dir,
				cell(sps[meshC], oks[meshC], rw.format), cell(sps[ceiling], oks[ceiling], rw.format), cell(sps[peer], oks[peer], rw.format))
			if rw.noRatio {
				b.WriteString(" | |")
			} else {
				rc, okc := roundRatios(s, w.ID, ceiling, rw.get)
				rp, okp := roundRatios(s, w.ID, peer, rw.get)
				fmt.Fprintf(&b, " %s | %s |", cell(rc, okc, fmtRatio), cell(rp, okp, fmtRatio))
			}
			eigr := rw.eigr
			if eigr == "" {
				eigr = "–"
			}
			fmt.Fprintf(&b, " %s |\n", eigr)
		}
		b.WriteString(notes(s, w))
		for _, c := range charts[w.ID] {
			fmt.Fprintf(&b, "\n![%s](%s)\n", c.alt, c.file)
		}
		b.WriteString("\n")
	}
	writeProfiles(&b, dir, s)
	return os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(b.String()), 0o644)
}

// notes lists the failures and errors of a workload's runs.
func notes(s *suite, w workload) string {
	var b strings.Builder
	if !slices.Contains(w.Contenders, ceiling) {
		b.WriteString("\nThe ceiling has no column: raw protoactor-go places nothing, so nothing moves or fails over.\n")
	}
	for _, r := range s.Results {
		if r.Workload != w.ID {
			continue
		}
		if r.Err != "" {
			msg, _, _ := strings.Cut(r.Err, "\n")
			fmt.Fprintf(&b, "\n- **%s round %d failed:** %s", r.Contender, r.Round, msg)
			continue
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "\n- %s round %d, %s", r.Contender, r.Round, n)
		}
		for _, name := range slices.Sorted(maps.Keys(r.Phases)) {
			ph := r.Phases[name]
			if ph.Errors > 0 || ph.OK < ph.N {
				fmt.Fprintf(&b, "\n- %s round %d, phase %s: %d of %d operations failed (%s)", r.Contender, r.Round, name, ph.N-ph.OK, ph.N, ph.FirstErr)
			}
		}
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

// target is one goal of the benchmark issue.
type target struct {
	what  string
	goal  string
	check func(s *suite) (got string, met bool, ok bool)
}

func median(s *suite, w, c string, get func(*result) (float64, bool)) (float64, bool) {
	sp, ok := figures(s, w, c, row{get: get})
	return sp.Median, ok
}

func ratioTarget(w, other string, get func(*result) (float64, bool), min float64) func(*suite) (string, bool, bool) {
	return func(s *suite) (string, bool, bool) {
		r, ok := roundRatios(s, w, other, get)
		if !ok {
			return "not measured", false, false
		}
		return cell(r, true, fmtRatio), r.Median >= min, true
	}
}

func absTarget(w string, get func(*result) (float64, bool), f func(float64) string, met func(float64) bool) func(*suite) (string, bool, bool) {
	return func(s *suite) (string, bool, bool) {
		v, ok := median(s, w, meshC, get)
		if !ok {
			return "not measured", false, false
		}
		return f(v), met(v), true
	}
}

// worstTarget is absTarget judged on every round: met only if the figure
// of each round meets it, where a median of 0 failed calls would let rounds
// that failed some pass.
func worstTarget(w string, get func(*result) (float64, bool), f func(float64) string, met func(float64) bool) func(*suite) (string, bool, bool) {
	return func(s *suite) (string, bool, bool) {
		sp, ok := figures(s, w, meshC, row{get: get})
		if !ok {
			return "not measured", false, false
		}
		return cell(sp, true, f), met(sp.Min) && met(sp.Max), true
	}
}

// aheadOfPeer checks that mesh beats the peer on every workload's first
// (headline) figure.
func aheadOfPeer(s *suite) (string, bool, bool) {
	var behind, measured []string
	for _, w := range workloads() {
		rows := tableOf(w.ID)
		for _, rw := range rows {
			if rw.noRatio || rw.only != nil {
				continue
			}
			r, ok := roundRatios(s, w.ID, peer, rw.get)
			if !ok {
				break
			}
			measured = append(measured, w.ID)
			if (rw.higher && r.Median <= 1) || (!rw.higher && r.Median >= 1) {
				behind = append(behind, fmt.Sprintf("%s (%s: %.2f×)", w.ID, rw.label, r.Median))
			}
			break
		}
	}
	if len(measured) == 0 {
		return "not measured", false, false
	}
	if len(behind) == 0 {
		return "ahead on " + strings.Join(measured, ", "), true, true
	}
	return "behind on " + strings.Join(behind, ", "), false, true
}

func targets() []target {
	return []target{
		{"B5 warm calls vs ceiling", "≥ 0.70×", ratioTarget("B5", ceiling, rate(phCall), 0.7)},
		{"B1 activations vs ceiling (spawn + request)", "≥ 0.50×", ratioTarget("B1", ceiling, rate(phActivate), 0.5)},
		{"C1 cross-node calls vs ceiling (remote request to known PIDs)", "≥ 0.80×", ratioTarget("C1", ceiling, rate(phCall), 0.8)},
		{"B1 vs peer", "≥ 2×", ratioTarget("B1", peer, rate(phActivate), 2)},
		{"B5 vs peer", "≥ 2×", ratioTarget("B5", peer, rate(phCall), 2)},
		{"C1 vs peer", "≥ 2×", ratioTarget("C1", peer, rate(phCall), 2)},
		{"ahead of the peer on every workload (headline figure)", "> 1×", aheadOfPeer},
		{"B6 sequential latency p50", "≤ 10 µs", absTarget("B6", quantileUS(phCall, 50), fmtUS, func(v float64) bool { return v <= 10 })},
		{"B6 sequential latency p99", "≤ 50 µs", absTarget("B6", quantileUS(phCall, 99), fmtUS, func(v float64) bool { return v <= 50 })},
		{"M live heap per idle activation", "≤ 1,024 B", absTarget("M",
			phaseGet(phActivate, func(ph phaseResult) (float64, bool) { return ph.HeapPer, true }), fmtBytes, func(v float64) bool { return v <= 1024 })},
		{"R1 shards moved on a join (3 → 4 nodes)", "≤ 1.2 × 25% = 30%", absTarget("R1", value("join_shards_moved"), fmtPct, func(v float64) bool { return v <= 0.3 })},
		{"R2 failed calls during a graceful leave", "0 in every round", worstTarget("R2", value("leave_failed"), fmtCount, func(v float64) bool { return v == 0 })},
	}
}

func writeTargets(b *strings.Builder, s *suite) {
	b.WriteString("## Targets (issue 3)\n\n| target | goal | measured (medians) | |\n|---|---|---|---|\n")
	for _, t := range targets() {
		got, met, ok := t.check(s)
		mark := "missed"
		switch {
		case !ok:
			mark = "–"
		case met:
			mark = "**met**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.what, t.goal, got, mark)
	}
	b.WriteString("\nWhere a target is missed, [Where the time goes](#where-the-time-goes) says by how much and why.\n\n")
}
