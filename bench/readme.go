package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// The markers between which the README holds the run's targets table:
// writeReadme replaces what lies between them, so that the README's
// figures are a run's, never typed.
const (
	readmeBegin = "<!-- bench:targets:begin (written by scripts/bench.sh; do not edit) -->"
	readmeEnd   = "<!-- bench:targets:end -->"
)

// writeReadme puts s's targets table, with the run's mode, date and
// machine, between the markers of the file at path. A file without both
// markers, in that order, is an error, and is left as it was.
func writeReadme(path string, s *suite) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin := bytes.Index(old, []byte(readmeBegin))
	end := bytes.Index(old, []byte(readmeEnd))
	if begin < 0 || end < begin {
		return fmt.Errorf("%s has no %q ... %q markers for the targets table", path, readmeBegin, readmeEnd)
	}
	var b strings.Builder
	b.WriteString(readmeBegin + "\n")
	fmt.Fprintf(&b, "From `scripts/bench.sh %s` on %s (%d cores, %s; full tables in [bench/RESULTS.md](bench/RESULTS.md)):\n\n",
		s.Params.Mode, s.Started.UTC().Format("2006-01-02"), s.Machine.Cores, s.Machine.Go)
	var t strings.Builder
	writeTargets(&t, s)
	table := strings.TrimPrefix(t.String(), "## Targets\n\n")
	// The link to the analysis is RESULTS.md's own.
	table = strings.ReplaceAll(table, "(#where-the-time-goes)", "(bench/RESULTS.md#where-the-time-goes)")
	b.WriteString(strings.TrimRight(table, "\n") + "\n")
	b.WriteString(readmeEnd)
	out := append(append(append([]byte{}, old[:begin]...), b.String()...), old[end+len(readmeEnd):]...)
	return os.WriteFile(path, out, 0o644)
}
