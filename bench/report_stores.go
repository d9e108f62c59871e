package main

import (
	"fmt"
	"slices"
	"strings"
)

// storeCols are the figures of S's table, one column each, a store a row.
func storeCols() []row {
	var cols []row
	for _, n := range sWriters {
		what := fmt.Sprintf("saves/s, %d goroutines", n)
		if n == 1 {
			what = "saves/s, 1 goroutine"
		}
		cols = append(cols, row{label: what, higher: true, format: fmtRate, get: rate(savePhase(n))})
	}
	return append(cols,
		row{label: "save p50, 1 goroutine", format: fmtUS, get: quantileUS(savePhase(1), 50)},
		row{label: "save p50, 64 goroutines", format: fmtUS, get: quantileUS(savePhase(64), 50)},
		row{label: "restore p50", format: fmtUS, get: quantileUS(phRestore, 50)},
		row{label: "restore p99", format: fmtUS, get: quantileUS(phRestore, 99)},
		row{label: "restores/s, 1 goroutine", higher: true, format: fmtRate, get: rate(phRestore)},
	)
}

// storesText says what S measures and how.
const storesText = `Each store runs in the benchmark's driver process through ` + "`store.Store`" + `, as a node uses it, fresh for
every round: *memory* is ` + "`store.NewMemory`" + `; *SQLite* is ` + "`sqlite.Open`" + ` on a new file in a temporary
directory, with ` + "`WithSync(SyncFull)`" + ` (an fsync of the write-ahead log per commit, shared by concurrent writers through
group commit) or ` + "`WithSync(SyncNormal)`" + ` (no fsync but at checkpoints); *PostgreSQL* is ` + "`postgres.Open`" + ` with its
default pool (the greater of 4 connections and the CPU count) on a table of its own in the database of ` + "`" + postgresEnv + "`" + ` (scripts/bench.sh starts a
throwaway local server, fsync on, over a Unix socket, when PostgreSQL is installed). A save is a versioned ` + "`Save`" + ` of
a 1 KiB record, each goroutine saving the next version of a key of its own: a process saving after every message. A restore is
one ` + "`Load`" + ` of a 1 KiB record, sequential from one goroutine, round robin over 64 records: what a process waits for
before its first message on a new node.
`

// writeStores writes S's table: a row per store, not-run rows included.
func writeStores(b *strings.Builder, s *suite, w workload) {
	cols := storeCols()
	fmt.Fprintf(b, "## %s — %s\n\n%s", w.ID, w.Title, storesText)
	switch s.StoreFS {
	case "":
	case "tmpfs":
		b.WriteString("**The SQLite files were on tmpfs:** an fsync reaches no disk there, so SyncFull's figures are not those of a durable store.\n")
	default:
		fmt.Fprintf(b, "The SQLite files were on %s.\n", s.StoreFS)
	}
	b.WriteString("\n| store |")
	for _, c := range cols {
		dir := " ↓"
		if c.higher {
			dir = " ↑"
		}
		fmt.Fprintf(b, " %s%s |", c.label, dir)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, st := range stores {
		var res []*result
		notRun := false
		for _, r := range s.Results {
			if r.Workload == w.ID && r.Contender == st {
				res = append(res, r)
				notRun = notRun || r.Err == notRunPG
			}
		}
		if len(res) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s |", columnName[st])
		if notRun {
			fmt.Fprintf(b, " %s |%s\n", notRunPG, strings.Repeat(" – |", len(cols)-1))
			continue
		}
		for _, c := range cols {
			sp, ok := figures(s, w.ID, st, c)
			fmt.Fprintf(b, " %s |", cell(sp, ok, c.format))
		}
		b.WriteString("\n")
	}
	if sp, ok := roundRatios(s, w.ID, storeSQLiteFull, storeSQLiteNormal, rate(savePhase(1))); ok && !sp.NA {
		fmt.Fprintf(b, "\nSQLite SyncFull over SyncNormal, saves/s from 1 goroutine: %s", cell(sp, true, fmtRatio))
		if sp64, ok := phaseRatio(s, w.ID, storeSQLiteFull, savePhase(64), savePhase(1)); ok {
			fmt.Fprintf(b, "; SyncFull from 64 goroutines over 1 goroutine (group commit): %s", cell(sp64, true, fmtRatio))
		}
		b.WriteString(".\n")
	}
	b.WriteString(notes(s, w))
	b.WriteString("\n")
}

// phaseRatio divides contender c's rate in phase num by its rate in phase
// den, round by round.
func phaseRatio(s *suite, w, c, num, den string) (spread, bool) {
	var rs []float64
	for _, r := range s.Results {
		if r.Workload != w || r.Contender != c || r.Err != "" {
			continue
		}
		n, okn := rate(num)(r)
		d, okd := rate(den)(r)
		if okn && okd && d > 0 {
			rs = append(rs, n/d)
		}
	}
	return spreadOf(rs)
}

// writeSaveCost states what saving on change costs mesh on B5 or C1.
func writeSaveCost(b *strings.Builder, s *suite, w string) {
	for _, c := range []string{meshSave, meshSavePG} {
		if parts := costParts(s, w, c); len(parts) > 0 {
			fmt.Fprintf(b, "\nCost of saving on change, %s over mesh: %s.", columnName[c], strings.Join(parts, "; "))
			if c == meshSavePG {
				b.WriteString(" CPU per call counts the node processes, not the PostgreSQL server's.")
			}
			b.WriteString("\n")
		}
	}
	if slices.ContainsFunc(ranBy(s, w), savesState) {
		b.WriteString("\nThe save contenders' echo process counts its messages, calls `ctx.Changed()` in every one and implements " +
			"`actor.Snapshotter`; its capability has `Save: mesh.SaveOnChange` and `Config.Store` is one store every node process of " +
			"the run shares (one SQLite file with SyncFull; one PostgreSQL table). So every call waits for one commit of its process's " +
			"state before its reply leaves.\n")
	}
}
