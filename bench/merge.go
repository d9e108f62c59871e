package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// rerun records a run whose results were merged into an earlier suite.
type rerun struct {
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_s"`
	// Workloads are the workloads whose results it replaced (of the
	// contenders it ran).
	Workloads  []string `json:"workloads"`
	Contenders []string `json:"contenders,omitempty"`
	// Changed lists the parameters in which it differed from the suite,
	// as "name: old → new"; the suite takes the rerun's.
	Changed []string `json:"changed,omitempty"`
}

// readSuite reads dir/results.json.
func readSuite(dir string) (*suite, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, err
	}
	var s suite
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "results.json"), err)
	}
	upgrade(&s)
	return &s, nil
}

// saveSuite writes s as dir/results.json, through a temporary file so
// that a failed write leaves the old one whole.
func saveSuite(dir string, s *suite) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".results.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "results.json"))
}

var errMergeMode = errors.New("bench: -merge needs the mode of the results it merges into")

// checkMerge tells whether a run of mode can merge into base.
func checkMerge(base *suite, mode string) error {
	if base.Params.Mode != mode {
		return fmt.Errorf("%w: results.json is a %s run, not %s", errMergeMode, base.Params.Mode, mode)
	}
	return nil
}

// merge replaces base's results of every workload and contender that
// rerun holds with rerun's, keeps the others and base's machine, start
// and duration, takes rerun's parameters (noting those that changed),
// rerun's profiles of the workloads it ran, and records the rerun.
func merge(base, again *suite) *suite {
	out := *base
	ran := map[[2]string]bool{}
	var ws, cs []string
	for _, r := range again.Results {
		ran[[2]string{r.Workload, r.Contender}] = true
		if !slices.Contains(ws, r.Workload) {
			ws = append(ws, r.Workload)
		}
		if !slices.Contains(cs, r.Contender) {
			cs = append(cs, r.Contender)
		}
	}
	out.Results = nil
	for _, r := range base.Results {
		if !ran[[2]string{r.Workload, r.Contender}] {
			out.Results = append(out.Results, r)
		}
	}
	out.Results = append(out.Results, again.Results...)
	order := map[string]int{}
	for i, w := range workloads() {
		order[w.ID] = i
	}
	slices.SortStableFunc(out.Results, func(a, b *result) int { return order[a.Workload] - order[b.Workload] })

	out.Profiles = maps.Clone(base.Profiles)
	if out.Profiles == nil {
		out.Profiles = map[string][]string{}
	}
	for _, w := range ws {
		delete(out.Profiles, w)
		if p, ok := again.Profiles[w]; ok {
			out.Profiles[w] = p
		}
	}
	out.Params = again.Params
	out.Reruns = append(slices.Clone(base.Reruns), rerun{
		Started: again.Started, Duration: again.Duration, Workloads: ws, Contenders: cs,
		Changed: paramChanges(base.Params, again.Params),
	})
	return &out
}

// paramChanges lists the parameters that differ between a and b.
func paramChanges(a, b params) []string {
	fields := func(p params) map[string]string {
		raw, _ := json.Marshal(p)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	fa, fb := fields(a), fields(b)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(fb)) {
		if fa[k] != fb[k] {
			old := fa[k]
			if old == "" {
				old = "unset"
			}
			out = append(out, fmt.Sprintf("%s: %s → %s", k, old, fb[k]))
		}
	}
	return out
}

// writeReruns says which workloads were rerun after the suite's run.
func writeReruns(b *strings.Builder, s *suite) {
	for _, r := range s.Reruns {
		fmt.Fprintf(b, "*Rerun on %s in %s and merged into this run's results: %s",
			r.Started.UTC().Format("2006-01-02 15:04 UTC"), time.Duration(r.Duration*float64(time.Second)).Round(time.Second), strings.Join(r.Workloads, ", "))
		if len(r.Contenders) > 0 {
			fmt.Fprintf(b, " (%s)", strings.Join(r.Contenders, ", "))
		}
		if len(r.Changed) > 0 {
			fmt.Fprintf(b, "; parameters changed since the run, the ones below are the rerun's: %s", strings.Join(r.Changed, "; "))
		}
		b.WriteString(".*\n\n")
	}
}
