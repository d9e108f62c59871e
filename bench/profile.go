package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// profEntry is one function of a `go tool pprof -top` listing.
type profEntry struct {
	name      string
	flat, cum float64 // seconds
}

// readTop runs `go tool pprof -top` on file; cum sorts by cumulative time.
func readTop(file string, cum bool) (entries []profEntry, total float64, err error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=100000"}
	if cum {
		args = append(args, "-cum")
	}
	out, err := exec.Command("go", append(args, file)...).Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go tool pprof %s: %w", file, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	inTable := false
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "Total samples = "); i >= 0 {
			f := strings.Fields(line[i+len("Total samples = "):])
			if len(f) > 0 {
				total = parseDur(f[0])
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "flat" {
			inTable = true
			continue
		}
		if !inTable || len(f) < 6 {
			continue
		}
		entries = append(entries, profEntry{name: strings.Join(f[5:], " "), flat: parseDur(f[0]), cum: parseDur(f[3])})
	}
	return entries, total, nil
}

// parseDur reads pprof's "1.20s", "30ms", "0".
func parseDur(s string) float64 {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "ms"):
		s, mult = strings.TrimSuffix(s, "ms"), 1e-3
	case strings.HasSuffix(s, "us"), strings.HasSuffix(s, "µs"):
		s, mult = strings.TrimSuffix(strings.TrimSuffix(s, "us"), "µs"), 1e-6
	case strings.HasSuffix(s, "ns"):
		s, mult = strings.TrimSuffix(s, "ns"), 1e-9
	case strings.HasSuffix(s, "s"):
		s = strings.TrimSuffix(s, "s")
	case strings.HasSuffix(s, "min"):
		s, mult = strings.TrimSuffix(s, "min"), 60
	}
	v, _ := strconv.ParseFloat(s, 64)
	return v * mult
}

// costCategory groups a function by what its time is spent on.
func costCategory(fn string) string {
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("github.com/meshrun/mesh"):
		return "mesh's own code"
	case has("main."):
		return "benchmark harness (callers, timing)"
	case has("github.com/asynkron/protoactor-go/remote"):
		return "protoactor remote (endpoints, batching, serialization glue)"
	case has("github.com/asynkron/protoactor-go/cluster"):
		return "protoactor cluster"
	case has("github.com/asynkron/protoactor-go"):
		return "protoactor actor (mailboxes, PIDs, registry, futures)"
	case has("google.golang.org/grpc", "golang.org/x/net/http2"):
		return "gRPC and HTTP/2"
	case has("google.golang.org/protobuf", "github.com/gogo/protobuf", "github.com/golang/protobuf"):
		return "protobuf encoding"
	case has("syscall.", "internal/poll.", "net.", "internal/runtime/syscall", "runtime/internal/syscall", "os."):
		return "system calls (network I/O)"
	case has("runtime.mallocgc", "runtime.gc", "runtime.scanobject", "runtime.greyobject", "runtime.markBits",
		"runtime.(*mspan)", "runtime.(*mheap)", "runtime.(*mcache)", "runtime.(*mcentral)", "runtime.memclrNoHeapPointers",
		"runtime.heapBits", "runtime.findObject", "runtime.scanblock", "runtime.wbBuf", "runtime.bgsweep", "runtime.sweepone",
		"runtime.(*gcWork)", "runtime.(*gcControllerState)", "runtime.nextFreeFast", "runtime.newobject", "runtime.makeslice",
		"runtime.growslice", "runtime.(*sweepLocked)", "runtime.markroot", "runtime.scanstack", "runtime.scanframeworker",
		"runtime.bulkBarrierPreWrite", "runtime.typePointers", "runtime.(*mspan).typePointers", "runtime.wbBufFlush",
		"runtime.gcWriteBarrier", "runtime.makemap", "runtime.makechan", "runtime.newarray", "runtime.memmove",
		"runtime.(*unwinder)", "runtime.pcvalue", "runtime.funcInfo", "runtime.findfunc", "runtime.step", "runtime.(*stkframe)",
		"runtime.concatstring", "runtime.rawstring", "runtime.slicebytetostring", "runtime.mallocgcSmall", "runtime.heapSetType",
		"runtime.(*gcBits)", "runtime.spanOf", "runtime.deductAssistCredit", "runtime.(*mSpanStateBox)"):
		return "allocation and garbage collection"
	case has("runtime.mapaccess", "runtime.mapassign", "runtime.mapdelete", "runtime.aeshash", "runtime.memhash",
		"runtime.strhash", "runtime.memequal", "runtime.cmpstring", "internal/runtime/maps", "runtime.efaceeq", "runtime.nilinterhash",
		"runtime.interhash", "runtime.typehash", "sync.(*Map)", "internal/sync", "strings.", "strconv.", "hash/", "github.com/cespare/xxhash",
		"github.com/orcaman/concurrent-map", "github.com/twmb/murmur3"):
		return "maps, hashing and strings"
	case has("runtime."), has("sync."), has("context."), has("time."), has("internal/"):
		return "scheduler, channels, locks, timers (runtime)"
	}
	return "other"
}

// profileSummary describes one CPU profile.
type profileSummary struct {
	total      float64
	categories []profEntry // name = category, flat = seconds
	cum        []profEntry // the heaviest functions of mesh and protoactor by cumulative time
}

func summarize(file string) (*profileSummary, error) {
	flat, total, err := readTop(file, false)
	if err != nil {
		return nil, err
	}
	cum, _, err := readTop(file, true)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		for _, e := range flat {
			total += e.flat
		}
	}
	sum := &profileSummary{total: total}
	byCat := map[string]float64{}
	for _, e := range flat {
		byCat[costCategory(e.name)] += e.flat
	}
	for c, v := range byCat {
		sum.categories = append(sum.categories, profEntry{name: c, flat: v})
	}
	slices.SortFunc(sum.categories, func(a, b profEntry) int {
		switch {
		case a.flat > b.flat:
			return -1
		case a.flat < b.flat:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	for _, e := range cum {
		if !strings.HasPrefix(e.name, "github.com/meshrun/mesh") && !strings.HasPrefix(e.name, "github.com/asynkron/protoactor-go") &&
			!strings.HasPrefix(e.name, "context.") && !strings.HasPrefix(e.name, "google.golang.org/grpc") &&
			!strings.HasPrefix(e.name, "google.golang.org/protobuf/proto.") {
			continue
		}
		sum.cum = append(sum.cum, e)
		if len(sum.cum) == 18 {
			break
		}
	}
	return sum, nil
}

var profileTitles = map[string]string{
	"B1":        "B1 activations, one node (the only process)",
	"B5":        "B5 warm calls, one node (the only process)",
	"C1":        "C1 cross-node calls: the calling node",
	"C1-server": "C1 cross-node calls: a serving node",
}

// analysisFile is the hand-written reading of the profiles, kept beside
// RESULTS.md and copied into it.
const analysisFile = "ANALYSIS.md"

// writeProfiles adds the hand-written analysis and the profile summaries.
func writeProfiles(b *strings.Builder, dir string, s *suite) {
	b.WriteString("## Where the time goes\n\n")
	if a, err := os.ReadFile(filepath.Join(dir, analysisFile)); err == nil {
		b.WriteString("*From [ANALYSIS.md](ANALYSIS.md), written from the profiles below.*\n\n")
		b.Write(a)
		b.WriteString("\n\n")
	}
	if len(s.Profiles) == 0 {
		b.WriteString("No profiles in this run.\n")
		return
	}
	b.WriteString("### CPU profiles of mesh\n\nEach profile is of one extra, unreported run of mesh with `pprof` on; the files are in `profiles/` " +
		"(`go tool pprof -top bench/profiles/B5.pprof`). Self time by kind of work, then mesh's and protoactor's functions by cumulative " +
		"time (share of all samples). Allocation and GC time is paid by whoever allocates: read it with the allocations per call above.\n\n")
	for _, w := range slices.Sorted(maps.Keys(s.Profiles)) {
		for _, f := range s.Profiles[w] {
			name := strings.TrimSuffix(filepath.Base(f), ".pprof")
			sum, err := summarize(filepath.Join(dir, f))
			if err != nil {
				fmt.Fprintf(b, "#### %s\n\n%v\n\n", name, err)
				continue
			}
			title := profileTitles[name]
			if title == "" {
				title = name
			}
			fmt.Fprintf(b, "#### %s — %.1f s of samples\n\n| self time in | share |\n|---|---|\n", title, sum.total)
			for _, c := range sum.categories {
				if c.flat/sum.total < 0.005 {
					continue
				}
				fmt.Fprintf(b, "| %s | %.1f%% |\n", c.name, 100*c.flat/sum.total)
			}
			b.WriteString("\n<details><summary>heaviest mesh and protoactor functions (cumulative)</summary>\n\n| function | cumulative |\n|---|---|\n")
			for _, e := range sum.cum {
				fmt.Fprintf(b, "| `%s` | %.1f%% |\n", e.name, 100*e.cum/sum.total)
			}
			b.WriteString("\n</details>\n\n")
		}
	}
}
