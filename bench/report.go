package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
		if !enoughBeyond(h.TotalCount(), q) {
			return math.NaN(), true // n/a: too few samples
		}
		return float64(h.ValueAtQuantile(q)) / 1e3, true
	})
}

// minBeyond is how many samples must lie beyond a percentile for it to be
// quoted: p99 needs 10,000 samples, p50 200.
const minBeyond = 100

// enoughBeyond reports whether count samples put minBeyond beyond
// percentile q.
func enoughBeyond(count int64, q float64) bool {
	return float64(count)*(1-q/100) >= minBeyond-1e-9
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

func throughputRows(name, what, eigr, suffix string) []row {
	op := strings.TrimSuffix(what, "s")
	rows := []row{
		{label: what + " per second" + suffix, higher: true, format: fmtRate, eigr: eigr, get: rate(name)},
		{label: "p50 latency under load" + suffix, format: fmtUS, get: quantileUS(name, 50)},
		{label: "p99 latency under load" + suffix, format: fmtUS, get: quantileUS(name, 99)},
	}
	for _, rw := range cpuRows(name, op) {
		rw.label += suffix
		rows = append(rows, rw)
	}
	return append(rows, row{label: "heap allocations per " + op + " (caller only)" + suffix, format: fmtF1, get: allocs(name)})
}

// payloadRows are throughputRows for the call phase of every payload size.
func payloadRows(p params, eigr string) []row {
	var rows []row
	for i, size := range p.payloads() {
		e := ""
		if i == 0 {
			e = eigr
		}
		rows = append(rows, throughputRows(payloadPhase(size), "calls", e, ", "+payloadLabel(size))...)
		rows = append(rows, row{label: "calls per frame, " + payloadLabel(size), format: fmtF1, get: callsPerFrame(payloadPhase(size)), noRatio: true, only: []string{meshC, meshTLS, wireC}})
	}
	return rows
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

// callsPerFrame is the calls a frame carried, where the contender counts
// them (the wire limit).
func callsPerFrame(name string) func(*result) (float64, bool) {
	return phaseGet(name, func(ph phaseResult) (float64, bool) { return ph.CallsPerFrame, ph.CallsPerFrame > 0 })
}

// shareRows state the share of IDs on the calling node.
func shareRows() []row {
	return []row{
		{label: "IDs on the calling node", format: fmtPct, get: value("local_share"), noRatio: true},
		{label: "IDs placed where the others place them", format: fmtPct, get: value("placement_same"), noRatio: true, only: []string{meshC, meshTLS, meshSave, meshSavePG}},
	}
}

// scaleRatio is a round's CPU per call (all processes) on the most nodes
// over that on the fewest, in the phases phase names.
func scaleRatio(nodes []int, phase func(int) string) func(*result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if len(nodes) < 2 {
			return 0, false
		}
		lo, okl := cpuPer(phase(nodes[0]))(r)
		hi, okh := cpuPer(phase(nodes[len(nodes)-1]))(r)
		if !okl || !okh || lo == 0 {
			return 0, false
		}
		return hi / lo, true
	}
}

// tableOf returns the rows of workload id.
func tableOf(id string, p params) []row {
	switch id {
	case "B1":
		return throughputRows(phActivate, "activations", "16,428/s", "")
	case "B2":
		return throughputRows(phCall, "calls", "11,904/s", "")
	case "B4":
		return throughputRows(phActivate, "activations", "", "")
	case "B5":
		return append(payloadRows(p, "30,558/s"), curveRows()...)
	case "B6", "C3":
		rows := []row{
			{label: "p50 latency", format: fmtUS, get: quantileUS(phCall, 50)},
			{label: "p95 latency", format: fmtUS, get: quantileUS(phCall, 95)},
			{label: "p99 latency", format: fmtUS, get: quantileUS(phCall, 99)},
			{label: "max latency", format: fmtUS, get: quantileUS(phCall, 100)},
			{label: "sequential calls per second", higher: true, format: fmtRate, get: rate(phCall)},
		}
		if id == "B6" {
			rows[0].eigr, rows[1].eigr, rows[2].eigr = "15–30 µs", "60–95 µs", "100–150 µs"
			return rows
		}
		return append(rows, cpuRows(phCall, "call")...)
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
		rows := append(shareRows(), payloadRows(p, "")...)
		return append(rows, curveRows()...)
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
	case "C4":
		var rows []row
		for _, n := range p.ScaleNodes {
			rows = append(rows,
				row{label: fmt.Sprintf("%d nodes: IDs on the calling node", n), format: fmtPct, get: value("local_share_" + scalePhase(n)), noRatio: true},
				row{label: fmt.Sprintf("%d nodes, C1's mix: calls per second", n), higher: true, format: fmtRate, get: rate(scalePhase(n))},
				row{label: fmt.Sprintf("%d nodes, C1's mix: CPU per call, all processes", n), format: fmtUS, get: cpuPer(scalePhase(n))},
				row{label: fmt.Sprintf("%d nodes, remote calls only: calls per second", n), higher: true, format: fmtRate, get: rate(remotePhase(n))},
				row{label: fmt.Sprintf("%d nodes, remote calls only: CPU per call, all processes", n), format: fmtUS, get: cpuPer(remotePhase(n))},
				row{label: fmt.Sprintf("%d nodes, remote calls only: calls per frame", n), format: fmtF1, get: callsPerFrame(remotePhase(n)), noRatio: true, only: []string{meshC, wireC}})
		}
		if len(p.ScaleNodes) >= 2 {
			lo, hi := p.ScaleNodes[0], p.ScaleNodes[len(p.ScaleNodes)-1]
			rows = append(rows,
				row{label: fmt.Sprintf("C1's mix: CPU per call, %d nodes over %d nodes", hi, lo), format: fmtRatio, get: scaleRatio(p.ScaleNodes, scalePhase)},
				row{label: fmt.Sprintf("remote calls only: CPU per call, %d nodes over %d nodes", hi, lo), format: fmtRatio, get: scaleRatio(p.ScaleNodes, remotePhase)})
		}
		return rows
	case "R1":
		return []row{
			{label: "join: shards moved (1/(N+1) = 25.0%)", format: fmtPct, get: value("join_shards_moved"), noRatio: true, only: []string{meshC}},
			{label: "join: IDs served by another node afterwards", format: fmtPct, get: value("join_ids_moved"), noRatio: true},
			{label: "join: activations stopped on the 3 old nodes", format: fmtCount, get: value("join_stopped"), noRatio: true},
			{label: "join: calls failed during the change", format: fmtCount, get: value("join_failed"), noRatio: true},
			{label: "join: calls made during the change", format: fmtCount, get: value("join_calls"), noRatio: true},
			{label: "join: slowest call during the change", format: fmtSec, get: value("join_max_latency_s"), noRatio: true},
			{label: "join: until every node sees 4 members", format: fmtSec, get: value("join_converge_s")},
			{label: "join: IDs moved (states to hand off)", format: fmtCount, get: value("join_moved"), noRatio: true},
			{label: "join: states handed off (by the 3 old nodes)", format: fmtCount, get: value("join_handed_off"), noRatio: true, only: []string{meshC}},
			{label: "join: handoff time, placement change to last acknowledgement", format: fmtSec, get: value("join_handoff_s"), noRatio: true, only: []string{meshC}},
			{label: "join: handoffs per second", higher: true, format: fmtRate, get: value("join_handoffs_per_s"), noRatio: true, only: []string{meshC}},
			{label: "join: until every moved ID answers on its new owner (with its state unless lost)", format: fmtSec, get: value("join_state_s"), noRatio: true},
			{label: "join: moved IDs that answered without their state (state lost)", format: fmtCount, get: value("join_state_lost"), noRatio: true},
			{label: "join: moved IDs that never answered from their new owner", format: fmtCount, get: value("join_unanswered"), noRatio: true},
			{label: "leave: shards moved", format: fmtPct, get: value("leave_shards_moved"), noRatio: true, only: []string{meshC}},
			{label: "leave: IDs served by another node afterwards", format: fmtPct, get: value("leave_ids_moved"), noRatio: true},
			{label: "leave: calls failed during the change", format: fmtCount, get: value("leave_failed"), noRatio: true},
			{label: "leave: slowest call during the change", format: fmtSec, get: value("leave_max_latency_s"), noRatio: true},
			{label: "leave: until every node sees 3 members", format: fmtSec, get: value("leave_converge_s")},
			{label: "leave: IDs moved (states to hand off)", format: fmtCount, get: value("leave_moved"), noRatio: true},
			{label: "leave: states handed off (by the node leaving)", format: fmtCount, get: value("leave_handed_off"), noRatio: true, only: []string{meshC}},
			{label: "leave: handoff time, placement change to last acknowledgement", format: fmtSec, get: value("leave_handoff_s"), noRatio: true, only: []string{meshC}},
			{label: "leave: handoffs per second", higher: true, format: fmtRate, get: value("leave_handoffs_per_s"), noRatio: true, only: []string{meshC}},
			{label: "leave: until every moved ID answers on its new owner (with its state unless lost)", format: fmtSec, get: value("leave_state_s"), noRatio: true},
			{label: "leave: moved IDs that answered without their state (state lost)", format: fmtCount, get: value("leave_state_lost"), noRatio: true},
			{label: "leave: moved IDs that never answered from their new owner", format: fmtCount, get: value("leave_unanswered"), noRatio: true},
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

// figures collects a row's value over the rounds of one contender. A
// figure every round of which had too few samples is n/a (spread.NA).
func figures(s *suite, w, contender string, rw row) (spread, bool) {
	var vs []float64
	na := false
	for _, r := range s.Results {
		if r.Workload != w || r.Contender != contender || r.Err != "" {
			continue
		}
		if v, ok := rw.get(r); ok {
			if math.IsNaN(v) {
				na = true
				continue
			}
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 && na {
		return spread{NA: true}, true
	}
	return spreadOf(vs)
}

// naText marks a percentile quoted nowhere: too few samples lie beyond it.
const naText = "n/a (too few samples)"

func cell(sp spread, ok bool, f func(float64) string) string {
	switch {
	case !ok:
		return "–"
	case sp.NA:
		return naText
	case sp.N == 1 || sp.Min == sp.Max:
		return f(sp.Median)
	}
	return fmt.Sprintf("%s <sub>%s–%s</sub>", f(sp.Median), f(sp.Min), f(sp.Max))
}

// roundRatios divides num's figure by den's round by round: the
// contenders of one round run back to back, so they share the machine's
// conditions, which drift between rounds.
func roundRatios(s *suite, w, num, den string, get func(*result) (float64, bool)) (spread, bool) {
	byRound := map[int]float64{}
	na := false
	for _, r := range s.Results {
		if r.Workload == w && r.Contender == den && r.Err == "" {
			if v, ok := get(r); ok && v != 0 {
				byRound[r.Round] = v
			}
		}
	}
	var rs []float64
	for _, r := range s.Results {
		if r.Workload == w && r.Contender == num && r.Err == "" {
			d, ok := byRound[r.Round]
			if v, vok := get(r); vok && ok {
				if q := v / d; math.IsNaN(q) {
					na = true
				} else {
					rs = append(rs, q)
				}
			}
		}
	}
	if len(rs) == 0 && na {
		return spread{NA: true}, true
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

// ranBy lists the contenders, in column order, with a result for w
// (those not run for want of PostgreSQL have none).
func ranBy(s *suite, w string) []string {
	var out []string
	for _, c := range contenders {
		for _, r := range s.Results {
			if r.Workload == w && r.Contender == c && r.Err != notRunPG {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// multiNode lists the workloads that run several node processes at once.
var multiNode = []string{"C1", "C2", "C3", "C4", "R1", "R2"}

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
		"the cores busy (one node process on a single-node workload, two to eight on %s), so only load above theirs shows other work.",
		s.Machine.Cores, strings.Join(parts, ", "), strings.Join(multiNode, ", "))
}

// ratioCols are the ratio columns of a workload's table: mesh over every
// contender that is not mesh, then every other configuration of mesh over
// plain mesh: mesh+TLS (the cost of TLS) and the save contenders (the
// cost of saving on change).
func ratioCols(cs []string) [][2]string {
	var out [][2]string
	if !slices.Contains(cs, meshC) {
		return nil
	}
	for _, c := range cs {
		if !isMesh(c) {
			out = append(out, [2]string{meshC, c})
		}
	}
	for _, c := range cs {
		if isMesh(c) && c != meshC {
			out = append(out, [2]string{c, meshC})
		}
	}
	return out
}

// columnName names a contender in table headers.
var columnName = map[string]string{
	meshC:      "mesh",
	meshTLS:    "mesh+TLS",
	meshSave:   "mesh+save (SQLite)",
	meshSavePG: "mesh+save (PostgreSQL)",
	ceiling:    "fair ceiling",
	futures:    "protoactor (RequestFuture)",
	wireC:      "wire limit",
	peer:       "peer",

	storeMemory:       "memory (store.NewMemory)",
	storeSQLiteFull:   "SQLite, SyncFull",
	storeSQLiteNormal: "SQLite, SyncNormal",
	storePostgres:     "PostgreSQL",
}

// ratioName names a ratio column.
var ratioName = map[string]string{
	meshC:      "mesh",
	meshTLS:    "mesh+TLS",
	meshSave:   "mesh+save(SQLite)",
	meshSavePG: "mesh+save(PostgreSQL)",
	ceiling:    "ceiling",
	futures:    "RequestFuture",
	wireC:      "wire",
	peer:       "peer",
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
	if p.Mode != "full" {
		fmt.Fprintf(&b, "*A %s run: fewer rounds than `make bench-full`, on whatever load the machine had; read the ratios, "+
			"and the load averages below, before any absolute figure.*\n\n", p.Mode)
	}
	writeReruns(&b, s)
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
	b.WriteString(contendersText)
	b.WriteString(methodText)
	writeParams(&b, p)
	writeTargets(&b, s)

	for _, w := range workloads() {
		if !ran(s, w.ID) {
			continue
		}
		if w.ID == "S" {
			writeStores(&b, s, w)
			continue
		}
		cs := ranBy(s, w.ID)
		ratios := ratioCols(cs)
		rows := tableOf(w.ID, p)
		eigr := slices.ContainsFunc(rows, func(rw row) bool { return rw.eigr != "" })
		fmt.Fprintf(&b, "## %s — %s\n\n| figure |", w.ID, w.Title)
		for _, c := range cs {
			fmt.Fprintf(&b, " %s |", columnName[c])
		}
		for _, rc := range ratios {
			fmt.Fprintf(&b, " %s/%s |", ratioName[rc[0]], ratioName[rc[1]])
		}
		if eigr {
			b.WriteString(" eigr/mesh |")
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(cs)+len(ratios)))
		if eigr {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, rw := range rows {
			if rw.only != nil && !slices.ContainsFunc(cs, func(c string) bool { return slices.Contains(rw.only, c) }) {
				continue // a row of contenders that did not run here
			}
			dir := " ↓"
			if rw.higher {
				dir = " ↑"
			}
			if rw.noRatio {
				dir = ""
			}
			fmt.Fprintf(&b, "| %s%s |", rw.label, dir)
			for _, c := range cs {
				if rw.only != nil && !slices.Contains(rw.only, c) {
					b.WriteString(" – |")
					continue
				}
				sp, ok := figures(s, w.ID, c, rw)
				fmt.Fprintf(&b, " %s |", cell(sp, ok, rw.format))
			}
			for _, rc := range ratios {
				if rw.noRatio {
					b.WriteString(" |")
					continue
				}
				r, ok := roundRatios(s, w.ID, rc[0], rc[1], rw.get)
				if r.NA {
					b.WriteString(" n/a |")
					continue
				}
				fmt.Fprintf(&b, " %s |", cell(r, ok, fmtRatio))
			}
			if eigr {
				e := rw.eigr
				if e == "" {
					e = "–"
				}
				fmt.Fprintf(&b, " %s |", e)
			}
			b.WriteString("\n")
		}
		b.WriteString(workloadNotes(s, w))
		b.WriteString(notes(s, w))
		for _, c := range charts[w.ID] {
			fmt.Fprintf(&b, "\n![%s](%s)\n", c.alt, c.file)
		}
		b.WriteString("\n")
	}
	writeProfiles(&b, dir, s)
	return os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(b.String()), 0o644)
}

const contendersText = `**Contenders.** *mesh*: this module through its public API (` + "`mesh.Call`" + `), 4096 shards, echo capability.
*mesh+TLS*: the same with ` + "`Config.TransportTLS`" + ` from ` + "`mesh.LoadTLS`" + `, certificates of a CA made for the run with package ` + "`certs`" + `.
*mesh+save (SQLite)*, *mesh+save (PostgreSQL)* (B5, C1): mesh saving on change: the echo process counts its messages, calls
` + "`ctx.Changed()`" + ` in each and implements ` + "`actor.Snapshotter`" + `, its capability has ` + "`Save: mesh.SaveOnChange`" + `, and ` + "`Config.Store`" + ` is
one store all node processes of the run share (one SQLite file, SyncFull; one PostgreSQL table): every call waits for one commit.
*fair ceiling*: the same protoactor-go actors with no routing and the cheapest reply path, which is mesh's own machinery without mesh:
the actors run on a dispatcher that keeps its goroutines (the rules of mesh's), a local call is a message carrying a pooled reply channel
bounded by a pooled timer, a remote call goes over protoactor's remote in the name of one reply process per node, matched by the
request id of the sender PID. The caller knows every PID: it spawned the actor, across nodes with a remote spawn. mesh may approach it;
a mesh faster than it by more than noise means the ceiling is wrong, and the report says so.
*protoactor (RequestFuture)*: raw protoactor-go with its default dispatcher and ` + "`RequestFuture`" + ` (a future process and a timer
per call) to known PIDs: what a protoactor user gets.
*wire limit* (cross-node workloads): raw gRPC bidirectional streams between the same node processes, no actors: one stream from the
caller to every other node, frames of up to 1 MiB batching whatever calls are queued, each frame answered by a frame of the same calls;
the same payload bytes and in-flight calls. What any transport on gRPC could reach.
*peer*: protoactor-go's own ` + "`cluster`" + ` package (virtual actors, disthash identity lookup, ` + "`cluster.Request`" + `), with the
in-memory test provider on one node and the automanaged provider across node processes (its health endpoint on loopback, polled every 1 s).
Every contender calls with the same payload (a ` + "`BytesValue`" + ` of 16 B unless the row names another size), echoed back, a 5 s call
timeout, the same remote queue sizes and a 64 MiB gRPC receive limit.

`

const methodText = `**Method.** Every workload runs in fresh node processes (multi-node workloads: one OS process per node on 127.0.0.1, started and
stopped by the benchmark), contenders interleaved round by round. Throughput is successful operations / wall time of the whole
timed window, run by a bounded pool of concurrent callers; latency is per operation, in an HDR histogram. A timed window lasts until
its operations are done or its time is up, whichever comes first (see the parameters): at least ~2 s or at least 100,000 operations.
A percentile is quoted only where at least 100 samples lie beyond it (p50 needs 200, p99 10,000); elsewhere the cell reads
*` + naText + `*. CPU per operation is user + system time (getrusage in each process) over the timed window, summed over every process of
the contender: the calling node process, where the callers run, and every other node process, which serve the IDs placed on them;
the driver, which only waits, is not counted. The caller's share is given beside it (on a single-node workload the caller is the only
process, so both rows agree); heap allocations are counted in the caller only.
**Placement.** Across nodes the ceilings and the wire limit place every ID on the node mesh's ring places it on (learnt once per node
count from a mesh cluster of the same node names), so they serve the same IDs, and the same share of them, on the calling node; mesh's
own share is asked of its ring in every run, and the row *IDs placed where the others place them* checks that it is the same placement.
The peer places IDs by its own hash: its share is measured by asking every ID where it runs. The *IDs on the calling node* rows state them.
A cell reads *median <sub>min–max</sub>* over the rounds. The ratio columns divide one contender's figure by another's *round by round*
(the contenders of a round run back to back, so they share the machine's conditions) and give the median <sub>min–max</sub> of those
ratios: above 1× is better for the first where higher is better (↑: throughput), below 1× where lower is better (↓: latency, CPU,
memory, time). *mesh+TLS/mesh* is the cost of TLS.

`

func writeParams(b *strings.Builder, p params) {
	var sizes []string
	for _, size := range p.payloads() {
		sizes = append(sizes, payloadLabel(size))
	}
	var nodes []string
	for _, n := range p.ScaleNodes {
		nodes = append(nodes, strconv.Itoa(n))
	}
	fmt.Fprintf(b, "**Parameters (%s):** rounds %d single-node, %d multi-node, %d for R1/R2; timed windows end after %gs or their operations; "+
		"B1 %s activations (500 callers); B2 %s calls (200); B4 %s activations over 3 capabilities (500); B5 %s IDs then %s calls per payload size "+
		"(300); payloads %s; B6 %s sequential calls over %s IDs; M %s activations (500); C1 %s calls per payload size over %s IDs (256); "+
		"C2 %s activations then %s calls over 4 capabilities (500); C3 %s sequential calls over the remote ones of %s IDs; C4 C1's 16 B calls "+
		"on %s node processes; curves %s calls per point; R1 %s IDs; R2 %s IDs; every phase bounded by %gs.\n\n",
		p.Mode, p.Rounds, p.ClusterRounds, p.RRounds, p.Window, commas(float64(p.B1)), commas(float64(p.B2)), commas(float64(p.B4)),
		commas(float64(p.B5IDs)), commas(float64(p.B5Calls)), strings.Join(sizes, ", "), commas(float64(p.B6Calls)), commas(float64(p.B6IDs)),
		commas(float64(p.M)), commas(float64(p.C1Calls)), commas(float64(p.C1IDs)), commas(float64(p.C2Acts)), commas(float64(p.C2Calls)),
		commas(float64(p.C3Calls)), commas(float64(p.C3IDs)), strings.Join(nodes, ", "),
		commas(float64(p.CurveN)), commas(float64(p.R1IDs)), commas(float64(p.R2IDs)), p.Limit)
	if p.SSaves > 0 {
		fmt.Fprintf(b, "**S and saving on change:** S's save phases stop at %s saves or the window, its restore phase at %s Loads; "+
			"the save contenders run B5 and C1 without the throughput curves.\n\n", commas(float64(p.SSaves)), commas(float64(p.SLoads)))
	}
}

// workloadNotes are the sentences a workload's table needs read with it.
func workloadNotes(s *suite, w workload) string {
	var b strings.Builder
	switch w.ID {
	case "B5":
		if msg, suspect := ceilingSuspect(s); suspect {
			fmt.Fprintf(&b, "\n**The fair ceiling is wrong:** %s. mesh does what the ceiling does and routes as well, so it cannot be faster by more than noise.\n", msg)
		}
		writeSaveCost(&b, s, w.ID)
	case "C1":
		share := func(c string) string {
			sp, ok := figures(s, w.ID, c, row{get: value("local_share")})
			if !ok {
				return ""
			}
			return fmtPct(sp.Median)
		}
		if m := share(meshC); m != "" {
			fmt.Fprintf(&b, "\nIDs on the calling node: mesh's ring gives it %s of the %s IDs", m, commas(float64(s.Params.C1IDs)))
			if c := share(ceiling); c != "" {
				fmt.Fprintf(&b, "; the ceilings and the wire limit place the same IDs there (%s)", c)
			}
			if pe := share(peer); pe != "" {
				fmt.Fprintf(&b, "; the peer's own placement gives it %s", pe)
			}
			b.WriteString(".\n")
		}
		writeTLSCost(&b, s, w.ID)
		writeSaveCost(&b, s, w.ID)
	case "C3":
		writeTLSCost(&b, s, w.ID)
	}
	return b.String()
}

// writeTLSCost states what mutual TLS costs mesh on C1 or C3.
func writeTLSCost(b *strings.Builder, s *suite, w string) {
	if parts := costParts(s, w, meshTLS); len(parts) > 0 {
		fmt.Fprintf(b, "\nTLS cost, mesh+TLS over mesh: %s.\n", strings.Join(parts, "; "))
	}
}

// costParts are the round ratios of contender c over mesh on w: for B5
// and C1 throughput and CPU per call at every payload size, otherwise
// the latency percentiles and CPU per call.
func costParts(s *suite, w, c string) []string {
	var parts []string
	add := func(what string, get func(*result) (float64, bool)) {
		if r, ok := roundRatios(s, w, c, meshC, get); ok {
			parts = append(parts, fmt.Sprintf("%s %s", what, cell(r, true, fmtRatio)))
		}
	}
	if w == "B5" || w == "C1" {
		for _, size := range s.Params.payloads() {
			add("throughput ("+payloadLabel(size)+")", rate(payloadPhase(size)))
			add("CPU per call ("+payloadLabel(size)+", all processes)", cpuPer(payloadPhase(size)))
		}
	} else {
		add("p50", quantileUS(phCall, 50))
		add("p95", quantileUS(phCall, 95))
		add("p99", quantileUS(phCall, 99))
		add("CPU per call (all processes)", cpuPer(phCall))
	}
	return parts
}

// ceilingNoise is how far mesh may pass the fair ceiling on B5 before the
// ceiling counts as wrong: the median of the round ratios of a quick run
// on a quiet machine moves by a few percent.
const ceilingNoise = 1.10

// ceilingSuspect reports whether mesh passes the fair ceiling on B5 by
// more than noise at any payload size: then the ceiling is not mesh's
// machinery without mesh.
func ceilingSuspect(s *suite) (string, bool) {
	var over []string
	for _, size := range s.Params.payloads() {
		r, ok := roundRatios(s, "B5", meshC, ceiling, rate(payloadPhase(size)))
		if ok && !r.NA && r.Median > ceilingNoise {
			over = append(over, fmt.Sprintf("%s at %s", fmtRatio(r.Median), payloadLabel(size)))
		}
	}
	if len(over) == 0 {
		return "", false
	}
	return fmt.Sprintf("mesh/ceiling on B5 is %s, above %s", strings.Join(over, ", "), fmtRatio(ceilingNoise)), true
}

// notes lists the failures and errors of a workload's runs.
func notes(s *suite, w workload) string {
	var b strings.Builder
	if !slices.Contains(w.Contenders, ceiling) && (w.ID == "R1" || w.ID == "R2") {
		b.WriteString("\nThe ceilings have no column: raw protoactor-go places nothing, so nothing moves or fails over.\n")
	}
	if w.ID == "R1" {
		b.WriteString("\nEvery ID is a counter bumped once before the change; mesh hands its count off live (no store) when its shard moves, " +
			"the peer has no handoff. After each change every moved ID is asked for its count until it answers from its new owner; one answering 0 lost its state. " +
			"The background load's where queries do not count. Mesh's moved IDs are those its ring places elsewhere afterwards; " +
			"the peer has no placement to ask, so every ID is asked, and one answering from another node than before moved.\n")
	}
	for _, r := range s.Results {
		if r.Workload != w.ID {
			continue
		}
		if r.Err == notRunPG {
			if r.Round == 1 {
				fmt.Fprintf(&b, "\n- %s: %s (%s was not set).", columnName[r.Contender], notRunPG, postgresEnv)
			}
			continue
		}
		if r.Err != "" {
			msg, _, _ := strings.Cut(r.Err, "\n")
			fmt.Fprintf(&b, "\n- **%s round %d failed:** %s", columnName[r.Contender], r.Round, msg)
			continue
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "\n- %s round %d, %s", columnName[r.Contender], r.Round, n)
		}
		for _, name := range slices.Sorted(maps.Keys(r.Phases)) {
			ph := r.Phases[name]
			if ph.Errors > 0 || (ph.OK < ph.N && !ph.Windowed) {
				fmt.Fprintf(&b, "\n- %s round %d, phase %s: %d of %d operations failed (%s)", columnName[r.Contender], r.Round, name, ph.N-ph.OK, ph.N, ph.FirstErr)
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

func median(s *suite, w, c string, get func(*result) (float64, bool)) (spread, bool) {
	return figures(s, w, c, row{get: get})
}

// ratioTarget is met when the median of mesh's round ratios to other is
// at least min.
func ratioTarget(w, other string, get func(*result) (float64, bool), min float64) func(*suite) (string, bool, bool) {
	return func(s *suite) (string, bool, bool) {
		r, ok := roundRatios(s, w, meshC, other, get)
		if !ok {
			return "not measured", false, false
		}
		if r.NA {
			return naText, false, false
		}
		return cell(r, true, fmtRatio), r.Median >= min, true
	}
}

// absTarget is met when mesh's median figure passes met.
func absTarget(w string, get func(*result) (float64, bool), f func(float64) string, met func(float64) bool) func(*suite) (string, bool, bool) {
	return func(s *suite) (string, bool, bool) {
		v, ok := median(s, w, meshC, get)
		if !ok {
			return "not measured", false, false
		}
		if v.NA {
			return naText, false, false
		}
		return f(v.Median), met(v.Median), true
	}
}

// memoryTarget is absTarget on M, judged only at the target's size.
func memoryTarget(at int) func(*suite) (string, bool, bool) {
	heap := phaseGet(phActivate, func(ph phaseResult) (float64, bool) { return ph.HeapPer, true })
	abs := absTarget("M", heap, fmtBytes, func(v float64) bool { return v <= 1024 })
	return func(s *suite) (string, bool, bool) {
		got, met, ok := abs(s)
		if ok && s.Params.M < at {
			return fmt.Sprintf("%s at %s activations: not the target's size (full mode)", got, commas(float64(s.Params.M))), false, false
		}
		return got, met, ok
	}
}

func targets() []target {
	kib := payloadPhase(1024)
	return []target{
		{"B5 warm calls (16 B) vs fair ceiling", "≥ 0.80×", ratioTarget("B5", ceiling, rate(phCall), 0.8)},
		{"B5 warm calls (16 B) vs peer", "≥ 3×", ratioTarget("B5", peer, rate(phCall), 3)},
		{"B1 activations vs fair ceiling", "≥ 0.80×", ratioTarget("B1", ceiling, rate(phActivate), 0.8)},
		{"B6 sequential latency p50", "≤ 2 µs", absTarget("B6", quantileUS(phCall, 50), fmtUS, func(v float64) bool { return v <= 2 })},
		{"B6 sequential latency p99", "≤ 10 µs", absTarget("B6", quantileUS(phCall, 99), fmtUS, func(v float64) bool { return v <= 10 })},
		{"C1 cross-node calls (16 B) vs wire limit", "≥ 0.50×", ratioTarget("C1", wireC, rate(phCall), 0.5)},
		{"C1 cross-node calls (16 B) vs peer", "≥ 2×", ratioTarget("C1", peer, rate(phCall), 2)},
		{"C1 cross-node calls (1 KiB) vs wire limit", "≥ 0.50×", ratioTarget("C1", wireC, rate(kib), 0.5)},
		{"C1 cross-node calls (1 KiB) vs peer", "≥ 2×", ratioTarget("C1", peer, rate(kib), 2)},
		{"M live heap per idle activation at 1,000,000 activations", "≤ 1,024 B", memoryTarget(1_000_000)},
		{"R1 handoffs per second, the slower of join and leave, at 100,000 states", "≥ 50,000/s", handoffTarget(100_000)},
		{"C4 CPU per call, 8 nodes over 2 nodes, remote calls only (all processes)", "≤ 1.20×", scaleTarget(remotePhase)},
		{"C4 CPU per call, 8 nodes over 2 nodes, C1's mix (all processes; the local share falls from ~1/2 to ~1/8)", "≤ 1.20×", scaleTarget(scalePhase)},
	}
}

// handoffTarget judges mesh's handoffs per second in R1, the slower of the
// join and the leave of each round, only at the target's size.
func handoffTarget(at int) func(*suite) (string, bool, bool) {
	slower := func(r *result) (float64, bool) {
		j, okj := r.Values["join_handoffs_per_s"]
		l, okl := r.Values["leave_handoffs_per_s"]
		if !okj || !okl {
			return 0, false
		}
		return min(j, l), true
	}
	abs := absTarget("R1", slower, fmtRate, func(v float64) bool { return v >= 50_000 })
	return func(s *suite) (string, bool, bool) {
		got, met, ok := abs(s)
		if ok && s.Params.R1IDs < at {
			return fmt.Sprintf("%s at %s states: not the target's size (full mode)", got, commas(float64(s.Params.R1IDs))), false, false
		}
		return got, met, ok
	}
}

// scaleTarget judges mesh's CPU per call on 8 nodes over 2 in phase.
func scaleTarget(phase func(int) string) func(*suite) (string, bool, bool) {
	return func(s *suite) (string, bool, bool) {
		nodes := s.Params.ScaleNodes
		if len(nodes) < 2 || nodes[0] != 2 || nodes[len(nodes)-1] != 8 {
			return "not measured at 2 and 8 nodes", false, false
		}
		return absTarget("C4", scaleRatio(nodes, phase), fmtRatio, func(v float64) bool { return v <= 1.2 })(s)
	}
}

func writeTargets(b *strings.Builder, s *suite) {
	b.WriteString("## Targets\n\n| target | goal | measured (medians) | |\n|---|---|---|---|\n")
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
	if msg, suspect := ceilingSuspect(s); suspect {
		fmt.Fprintf(b, "| fair ceiling sanity: mesh no faster than it on B5 | ≤ %s | %s | **ceiling wrong** |\n", fmtRatio(ceilingNoise), msg)
	} else if _, ok := roundRatios(s, "B5", meshC, ceiling, rate(phCall)); ok {
		fmt.Fprintf(b, "| fair ceiling sanity: mesh no faster than it on B5 | ≤ %s | within noise | ok |\n", fmtRatio(ceilingNoise))
	}
	b.WriteString("\nWhere a target is missed, [Where the time goes](#where-the-time-goes) says by how much and why.\n\n")
}
