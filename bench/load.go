package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// spec is the work a node process runs for one workload: phases in order,
// over the IDs actor_0 ... actor_<IDs-1>. ID i has kind Kinds[i % len(Kinds)].
type spec struct {
	Kinds []string `json:"kinds"`
	IDs   int      `json:"ids"`
	// Peers are the remote addresses of every node, in the order the
	// nodes started, and Self this node's index. Empty on one node.
	Peers []string `json:"peers,omitempty"`
	Self  int      `json:"self,omitempty"`
	// Place is, across nodes, the index in Peers of the node that serves
	// each ID for the contenders that place IDs themselves (the ceilings
	// and the wire limit): the node mesh's ring gives it.
	Place  []int   `json:"place,omitempty"`
	Phases []phase `json:"phases"`
	// CPUProfile, if set, is where the CPU profile of the timed phases goes.
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// phase is one batch: N operations over IDs [First, First+IDs) round
// robin, run by a bounded pool of Callers, for at most Limit seconds.
type phase struct {
	Name    string  `json:"name"`
	Op      string  `json:"op"` // "activate" or "call"
	First   int     `json:"first,omitempty"`
	IDs     int     `json:"ids"`
	N       int     `json:"n"`
	Callers int     `json:"callers"`
	Limit   float64 `json:"limit_s"`
	// Timed phases are reported; the others prepare or warm up.
	Timed bool `json:"timed,omitempty"`
	// Memory measures heap and RSS before and after the phase.
	Memory bool `json:"memory,omitempty"`
	// Payload is the size in bytes of the call's payload, a BytesValue;
	// 0 means defaultPayload.
	Payload int `json:"payload,omitempty"`
	// Window, if positive, ends the phase after that many seconds even if
	// fewer than N operations ran: a timed window lasts Window seconds or
	// N operations, whichever ends first.
	Window float64 `json:"window_s,omitempty"`
	// Remote restricts the phase to the IDs of its range that another
	// node serves (asked with "where" calls before the phase).
	Remote bool `json:"remote,omitempty"`
}

// defaultPayload is the payload size of every call that names none.
const defaultPayload = 16

// payloadOf returns a payload of n bytes.
func payloadOf(n int) proto.Message {
	if n <= 0 {
		n = defaultPayload
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return wrapperspb.Bytes(b)
}

// phaseResult is what one phase measured: in the calling process, except
// CPU and NodeCPU, which the driver completes with every other node
// process's CPU time (see runSpec).
type phaseResult struct {
	Name     string  `json:"name"`
	N        int     `json:"n"`
	OK       int     `json:"ok"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_err,omitempty"`
	Wall     float64 `json:"wall_s"`
	// Windowed reports a phase that its time window ended before N
	// operations ran: OK+Errors operations ran, and that is no failure.
	Windowed bool `json:"windowed,omitempty"`
	// Rate is successful operations per second of wall time.
	Rate float64 `json:"rate"`
	// Hist is the HDR histogram of successful operations' latency in
	// nanoseconds, V2-encoded.
	Hist string `json:"hist,omitempty"`
	// Allocs and Bytes are heap allocations per operation in the calling
	// process (all its goroutines).
	Allocs float64 `json:"allocs"`
	Bytes  float64 `json:"bytes"`
	// CPU is the CPU time (user and system) per operation summed over
	// every process of the contender's cluster: the calling node process
	// and every other node process, in microseconds. The driver, which
	// only waits while a phase runs, is not one of them.
	CPU float64 `json:"cpu_all_us"`
	// CallerCPU is the calling process's share of CPU. It keeps the key
	// CPU had when it counted the calling process alone, so older
	// results.json files read the same.
	CallerCPU float64 `json:"cpu_us"`
	// NodeCPU is each node process's CPU time per operation, in the
	// order the nodes were started (the caller's is CallerCPU); CPU is
	// their sum.
	NodeCPU []float64 `json:"cpu_nodes_us,omitempty"`
	// CPUWindow is the span, in seconds, from the first CPU reading of
	// the other node processes before the phase to the last one after
	// it: it holds Wall and the bracketing slack.
	CPUWindow float64 `json:"cpu_window_s,omitempty"`
	// CallsPerFrame is, for a contender that counts its frames (the wire
	// limit, mesh), the calls its caller's streams carried per frame.
	CallsPerFrame float64 `json:"calls_per_frame,omitempty"`
	// Memory, when measured: live heap, RSS and goroutines added per
	// successful operation.
	HeapPer      float64 `json:"heap_per,omitempty"`
	RSSPer       float64 `json:"rss_per,omitempty"`
	GoroutinePer float64 `json:"goroutine_per,omitempty"`
}

func idName(i int) string { return "actor_" + strconv.Itoa(i) }

// session is a spec being run on a node, one "phase" command at a time,
// so that the driver can read every node process's CPU time just before
// and just after each timed phase.
type session struct {
	n          node
	self       string // the node's name
	sp         *spec
	ids, kinds []string
	prof       *os.File // the CPU profile, from the first timed phase on
}

func newSession(n node, self string, sp *spec) (*session, error) {
	if len(sp.Kinds) == 0 {
		return nil, errors.New("a spec without kinds")
	}
	if err := n.prepare(sp); err != nil {
		return nil, err
	}
	s := &session{n: n, self: self, sp: sp, ids: make([]string, sp.IDs), kinds: make([]string, sp.IDs)}
	for i := range s.ids {
		s.ids[i] = idName(i)
		s.kinds[i] = sp.Kinds[i%len(sp.Kinds)]
	}
	return s, nil
}

// remoteIDs returns the indexes in [first, first+n) of the IDs another
// node serves.
func (s *session) remoteIDs(first, n int) ([]int, error) {
	var out []int
	if s.sp.Place != nil {
		// The contender places IDs itself (see spec.Place).
		for i := first; i < first+n; i++ {
			if s.sp.Place[i] != s.sp.Self {
				out = append(out, i)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no ID of %d is placed on another node than %s", n, s.self)
		}
		return out, nil
	}
	for kind := range slices.Values(slices.Compact(slices.Sorted(slices.Values(s.kinds[first : first+n])))) {
		var idx []int
		var names []string
		for i := first; i < first+n; i++ {
			if s.kinds[i] == kind {
				idx = append(idx, i)
				names = append(names, s.ids[i])
			}
		}
		for k, who := range where(s.n.where, kind, names) {
			if who == "" {
				return nil, fmt.Errorf("%s did not say where it runs", names[k])
			}
			if who != s.self {
				out = append(out, idx[k])
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ID of %d runs on another node than %s", n, s.self)
	}
	slices.Sort(out)
	return out, nil
}

// phase runs phase i. An untimed phase with failures is an error.
func (s *session) phase(i int) (phaseResult, error) {
	if i < 0 || i >= len(s.sp.Phases) {
		return phaseResult{}, fmt.Errorf("no phase %d in a spec of %d", i, len(s.sp.Phases))
	}
	ph := s.sp.Phases[i]
	if ph.First+ph.IDs > s.sp.IDs || ph.IDs < 1 || ph.N < 1 || ph.Callers < 1 {
		return phaseResult{}, fmt.Errorf("phase %s: bad bounds", ph.Name)
	}
	if ph.Timed && s.sp.CPUProfile != "" && s.prof == nil {
		f, err := os.Create(s.sp.CPUProfile)
		if err != nil {
			return phaseResult{}, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return phaseResult{}, err
		}
		s.prof = f
	}
	var pick []int
	if ph.Remote {
		var err error
		if pick, err = s.remoteIDs(ph.First, ph.IDs); err != nil {
			return phaseResult{}, fmt.Errorf("phase %s: %w", ph.Name, err)
		}
	}
	r := runPhase(s.n, ph, s.ids, s.kinds, pick)
	if !ph.Timed && r.Errors > 0 {
		return r, fmt.Errorf("phase %s: %d of %d failed, first: %s", ph.Name, r.Errors, ph.N, r.FirstErr)
	}
	return r, nil
}

// close stops the CPU profile, if one runs.
func (s *session) close() {
	if s.prof != nil {
		pprof.StopCPUProfile()
		s.prof.Close()
		s.prof = nil
	}
}

type memSample struct {
	heap, rss  uint64
	goroutines int
}

func sampleMemory() memSample {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss reads the resident set size from /proc; 0 where there is none.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// frameCounter is a node that counts the frames its calls went out in.
type frameCounter interface {
	sent() (frames, calls int64)
}

// runPhase runs one phase and measures it: operation j goes to ID
// pick[j % len(pick)], or without pick to ph.First + j % ph.IDs.
func runPhase(n node, ph phase, ids, kinds []string, pick []int) phaseResult {
	payload := payloadOf(ph.Payload)
	var before memSample
	if ph.Memory {
		before = sampleMemory()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	fc, counts := n.(frameCounter)
	var frames0, calls0 int64
	if counts {
		frames0, calls0 = fc.sent()
	}
	cpu0 := cpuTime()

	lat := make([]int64, ph.N)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var stop, windowed atomic.Bool
	limit := time.AfterFunc(seconds(ph.Limit), func() { stop.Store(true) })
	var window *time.Timer
	if ph.Window > 0 {
		window = time.AfterFunc(seconds(ph.Window), func() { windowed.Store(true); stop.Store(true) })
	}
	op := n.call
	if ph.Op == "activate" {
		op = n.activate
	}
	var wg sync.WaitGroup
	start := time.Now()
	for range ph.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				j := int(next.Add(1) - 1)
				if j >= ph.N {
					return
				}
				idx := ph.First + j%ph.IDs
				if pick != nil {
					idx = pick[j%len(pick)]
				}
				t0 := time.Now()
				err := op(kinds[idx], ids[idx], idx, payload)
				d := time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[j] = max(int64(d), 1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	limit.Stop()
	if window != nil {
		window.Stop()
	}
	cpu1 := cpuTime()
	runtime.ReadMemStats(&ms1)
	var framesN, callsN int64
	if counts {
		frames1, calls1 := fc.sent()
		framesN, callsN = frames1-frames0, calls1-calls0
	}

	h := hdrhistogram.New(1, int64(time.Minute), 3)
	ok := 0
	for _, d := range lat {
		if d > 0 {
			ok++
			_ = h.RecordValue(d)
		}
	}
	r := phaseResult{Name: ph.Name, N: ph.N, OK: ok, Errors: int(errs.Load()), Wall: wall.Seconds()}
	r.Windowed = windowed.Load() && ok+r.Errors < ph.N
	if ok+r.Errors < ph.N && !r.Windowed {
		r.FirstErr = fmt.Sprintf("stopped by the %gs limit after %d operations", ph.Limit, ok)
	}
	if s, _ := firstErr.Load().(string); s != "" {
		r.FirstErr = s
	}
	r.Rate = float64(ok) / wall.Seconds()
	if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		r.Hist = string(enc)
	}
	if framesN > 0 {
		r.CallsPerFrame = float64(callsN) / float64(framesN)
	}
	ops := float64(max(ok+r.Errors, 1))
	r.Allocs = float64(ms1.Mallocs-ms0.Mallocs) / ops
	r.Bytes = float64(ms1.TotalAlloc-ms0.TotalAlloc) / ops
	r.CallerCPU = (cpu1 - cpu0).Seconds() * 1e6 / ops
	r.CPU = r.CallerCPU // until the driver adds the other processes
	if ph.Memory && ok > 0 {
		after := sampleMemory()
		r.HeapPer = (float64(after.heap) - float64(before.heap)) / float64(ok)
		r.RSSPer = (float64(after.rss) - float64(before.rss)) / float64(ok)
		r.GoroutinePer = float64(after.goroutines-before.goroutines) / float64(ok)
		runtime.KeepAlive(lat)
	}
	return r
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bgLoad is a background load of "where" calls (R1, R2) that records
// every call.
type bgLoad struct {
	stopFlag atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex // guards events
	events   []event
}

// event is one call of a background load.
type event struct {
	end  int64 // Unix ns
	took time.Duration
	id   int32
	ok   bool
	who  string
	err  string
}

// maxEvents bounds a background load's memory.
const maxEvents = 2_000_000

func startLoad(n node, a loadArgs) *bgLoad {
	l := &bgLoad{}
	deadline := time.Now().Add(seconds(a.Limit))
	for c := range a.Callers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := c; !l.stopFlag.Load() && time.Now().Before(deadline); i += a.Callers {
				k := i % len(a.IDs)
				ctx, cancel := context.WithTimeout(context.Background(), seconds(a.Timeout))
				t0 := time.Now()
				who, err := n.where(ctx, a.Kind, a.IDs[k])
				cancel()
				ev := event{end: time.Now().UnixNano(), took: time.Since(t0), id: int32(k), ok: err == nil, who: who}
				if err != nil {
					ev.err = err.Error()
				}
				l.mu.Lock()
				if len(l.events) < maxEvents {
					l.events = append(l.events, ev)
				}
				l.mu.Unlock()
				if a.Pause > 0 {
					time.Sleep(seconds(a.Pause))
				}
			}
		}()
	}
	return l
}

func (l *bgLoad) stop(a loadArgs) loadSummary {
	l.stopFlag.Store(true)
	l.wg.Wait()
	return l.summary(a)
}

// summary describes the calls that ended after a.Since. a.Owners, when
// given, is the node that served each ID before; FirstOK and AllOK are
// about the IDs a.Victim served.
func (l *bgLoad) summary(a loadArgs) loadSummary {
	l.mu.Lock()
	events := append([]event(nil), l.events...)
	l.mu.Unlock()
	s := loadSummary{FirstOK: -1, AllOK: -1}
	victimIDs := 0
	for _, o := range a.Owners {
		if o == a.Victim {
			victimIDs++
		}
	}
	recovered := map[int32]bool{}
	for _, ev := range events {
		if ev.end < a.Since {
			continue
		}
		s.Calls++
		s.MaxLatency = max(s.MaxLatency, ev.took.Seconds())
		if !ev.ok {
			s.Failed++
			if s.FirstErr == "" {
				s.FirstErr = ev.err
			}
			continue
		}
		if a.Victim == "" || int(ev.id) >= len(a.Owners) || a.Owners[ev.id] != a.Victim || ev.who == a.Victim {
			continue
		}
		at := float64(ev.end-a.Since) / 1e9
		if s.FirstOK < 0 || at < s.FirstOK {
			s.FirstOK = at
		}
		if !recovered[ev.id] {
			recovered[ev.id] = true
			if len(recovered) == victimIDs {
				s.AllOK = at
			}
		}
	}
	return s
}
