package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// trace is one stack of a CPU profile and its samples.
type trace struct {
	secs   float64
	frames []string // leaf first
}

// readTraces runs `go tool pprof -traces` on file.
func readTraces(file string) (traces []trace, total float64, err error) {
	out, err := exec.Command("go", "tool", "pprof", "-traces", file).Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go tool pprof %s: %w", file, err)
	}
	var cur *trace
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			if cur != nil {
				traces = append(traces, *cur)
			}
			cur = &trace{}
			continue
		}
		if cur == nil {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			continue
		}
		if len(cur.frames) == 0 && len(f) >= 2 && looksLikeDur(f[0]) {
			cur.secs = parseDur(f[0])
			f = f[1:]
		}
		cur.frames = append(cur.frames, strings.TrimSuffix(strings.Join(f, " "), " (inline)"))
	}
	if cur != nil && len(cur.frames) > 0 {
		traces = append(traces, *cur)
	}
	for _, t := range traces {
		total += t.secs
	}
	return traces, total, nil
}

func looksLikeDur(s string) bool {
	return len(s) > 0 && (s[0] >= '0' && s[0] <= '9') && (strings.HasSuffix(s, "s") || s == "0")
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
	case strings.HasSuffix(s, "min"):
		s, mult = strings.TrimSuffix(s, "min"), 60
	case strings.HasSuffix(s, "s"):
		s = strings.TrimSuffix(s, "s")
	}
	v, _ := strconv.ParseFloat(s, 64)
	return v * mult
}

// bucket is a kind of work, recognised by a frame anywhere on the stack.
type bucket struct {
	name string
	re   *regexp.Regexp
}

// buckets are the kinds of work the profile summaries measure. They
// overlap: a sample counts in every bucket one of its frames matches.
var buckets = []bucket{
	{"all of mesh.Call (routing, activation, the call itself)", regexp.MustCompile(`^github\.com/meshrun/mesh\.\(\*Node\)\.Call$`)},
	{"protoactor's process registry: add, remove, look up a PID", regexp.MustCompile(`protoactor-go/actor\.\(\*ProcessRegistryValue\)\.(Add|Remove|Get|GetLocal)$`)},
	{"call deadline: context.WithTimeout and its cancel", regexp.MustCompile(`^context\.(WithTimeout|WithDeadline|WithDeadlineCause|\(\*timerCtx\)|\(\*cancelCtx\))`)},
	{"reply process of remote calls: mesh's replies (expect, release, delivery)", regexp.MustCompile(`^github\.com/meshrun/mesh\.(\(\*replies\)|pending)\.`)},
	{"timers: time.Timer (the pooled call timer among them) and the runtime's timer heap", regexp.MustCompile(`^time\.(\(\*Timer\)\.|NewTimer$|AfterFunc$)|^runtime\.(\(\*timers?\)\.|blockTimerChan$|unblockTimerChan$)`)},
	{"clock reads: time.Now and the runtime's clock", regexp.MustCompile(`^(time\.runtimeNow|runtime\.nanotime1?)$`)},
	{"call metrics: mesh's Prometheus counters and latency histogram", regexp.MustCompile(`^github\.com/meshrun/mesh\.\(\*metrics\)\.`)},
	{"PID cache lookup: activation.(*Cache).Get", regexp.MustCompile(`^github\.com/meshrun/mesh/internal/activation\.\(\*Cache\)\.Get$`)},
	{"activation table: activation.(*Table).Ensure, spawn included", regexp.MustCompile(`^github\.com/meshrun/mesh/internal/activation\.\(\*Table\)\.Ensure$`)},
	{"protoactor spawn", regexp.MustCompile(`protoactor-go/actor\.\(\*RootContext\)\.Spawn(Named|Prefix)?$`)},
	{"payload packing: wire.Pack / Unpack", regexp.MustCompile(`^github\.com/meshrun/mesh/internal/wire\.(Pack|Unpack)$`)},
	{"protobuf encoding, all of it", regexp.MustCompile(`^google\.golang\.org/protobuf/`)},
	{"protoactor remote: endpoint readers and writers", regexp.MustCompile(`protoactor-go/remote\.`)},
	{"gRPC and HTTP/2 transport", regexp.MustCompile(`^(google\.golang\.org/grpc|golang\.org/x/net/http2)`)},
	{"network system calls", regexp.MustCompile(`^(syscall\.|internal/poll\.)`)},
	{"protoactor mailboxes and message dispatch", regexp.MustCompile(`protoactor-go/actor\.\(\*(defaultMailbox|actorContext)\)`)},
	{"goroutine stack growth: runtime.newstack (copying a stack that outgrew its start)", regexp.MustCompile(`^runtime\.newstack$`)},
	{"heap allocation (mallocgc)", regexp.MustCompile(`^runtime\.mallocgc$`)},
	{"garbage collection: background marking, assists, sweeping", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep|bgscavenge|markroot|gcStart)$`)},
	{"scheduler: parking, waking and finding goroutines", regexp.MustCompile(`^runtime\.(schedule|findRunnable|park_m|goready|wakep|startm|stopm|notewakeup|notesleep)$`)},
}

// profileSummary describes one CPU profile.
type profileSummary struct {
	total   float64
	buckets []float64 // seconds per bucket
	cum     []funcCum // the heaviest functions of mesh and protoactor
}

type funcCum struct {
	name string
	secs float64
}

func summarize(file string) (*profileSummary, error) {
	traces, total, err := readTraces(file)
	if err != nil {
		return nil, err
	}
	sum := &profileSummary{total: total, buckets: make([]float64, len(buckets))}
	cum := map[string]float64{}
	for _, t := range traces {
		seen := map[string]bool{}
		for _, fr := range t.frames {
			if !seen[fr] {
				seen[fr] = true
				cum[fr] += t.secs
			}
		}
		for i, b := range buckets {
			for _, fr := range t.frames {
				if b.re.MatchString(fr) {
					sum.buckets[i] += t.secs
					break
				}
			}
		}
	}
	for name, secs := range cum {
		if strings.HasPrefix(name, "github.com/meshrun/mesh") || strings.HasPrefix(name, "github.com/asynkron/protoactor-go") {
			sum.cum = append(sum.cum, funcCum{name, secs})
		}
	}
	slices.SortFunc(sum.cum, func(a, b funcCum) int {
		if a.secs != b.secs {
			if a.secs > b.secs {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	if len(sum.cum) > 20 {
		sum.cum = sum.cum[:20]
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
		"(`go tool pprof -top bench/profiles/B5.pprof`). Each table gives the share of all CPU samples whose stack holds the named work " +
		"(the rows overlap: a sample counts in every row it matches), then mesh's and protoactor's heaviest functions by cumulative time. " +
		"Garbage-collection time is paid by whoever allocates: read it with the allocations per operation in the tables above. ")
	pp := profileParams(s.Params)
	fmt.Fprintf(b, "The profiled runs are larger than the measured ones, to hold seconds of samples: B1 %s activations, B5 %s calls, C1 %s calls.\n\n",
		commas(float64(pp.B1)), commas(float64(pp.B5Calls)), commas(float64(pp.C1Calls)))
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
			fmt.Fprintf(b, "#### %s — %.1f s of samples\n\n| samples with, on the stack | share |\n|---|---|\n", title, sum.total)
			for i, bk := range buckets {
				if sum.total == 0 || sum.buckets[i]/sum.total < 0.005 {
					continue
				}
				fmt.Fprintf(b, "| %s | %.1f%% |\n", bk.name, 100*sum.buckets[i]/sum.total)
			}
			b.WriteString("\n<details><summary>heaviest mesh and protoactor functions (cumulative)</summary>\n\n| function | cumulative |\n|---|---|\n")
			for _, e := range sum.cum {
				fmt.Fprintf(b, "| `%s` | %.1f%% |\n", e.name, 100*e.secs/sum.total)
			}
			b.WriteString("\n</details>\n\n")
		}
	}
}
