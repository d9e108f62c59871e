package main

import "strconv"

// params are the sizes of one benchmark run.
type params struct {
	Mode string `json:"mode"`
	// Rounds repeats every single-node workload, ClusterRounds every
	// multi-node one, RRounds R1 and R2.
	Rounds        int `json:"rounds"`
	ClusterRounds int `json:"cluster_rounds"`
	RRounds       int `json:"r_rounds"`

	B1      int `json:"b1"`       // activations
	B2      int `json:"b2"`       // calls to one ID
	B4      int `json:"b4"`       // activations over 3 capabilities
	B5IDs   int `json:"b5_ids"`   // IDs created
	B5Calls int `json:"b5_calls"` // warm calls over them, per payload size
	B6IDs   int `json:"b6_ids"`
	B6Calls int `json:"b6_calls"` // sequential calls
	M       int `json:"m"`        // activations measured for memory

	C1IDs   int `json:"c1_ids"`
	C1Calls int `json:"c1_calls"` // per payload size
	C2Acts  int `json:"c2_acts"`
	C2Calls int `json:"c2_calls"`
	C3IDs   int `json:"c3_ids"`
	C3Calls int `json:"c3_calls"` // sequential cross-node calls
	// ScaleNodes are the node counts of C4, each with C1's IDs and calls.
	ScaleNodes []int `json:"scale_nodes,omitempty"`

	// Payloads are the payload sizes, in bytes, of B5 and C1.
	Payloads []int `json:"payloads,omitempty"`

	// CurveN is the calls per point of the throughput curves.
	CurveN int `json:"curve_n"`

	// SSaves bounds each save phase of S, SLoads its restores.
	SSaves int `json:"s_saves,omitempty"`
	SLoads int `json:"s_loads,omitempty"`

	R1IDs int `json:"r1_ids"` // IDs activated (on mesh: states held) before the join
	R2IDs int `json:"r2_ids"` // IDs activated before the failure

	// Window ends a timed phase after this many seconds even if its
	// operations have not all run (M excepted, which needs them all): a
	// timed window lasts Window seconds or its N operations, whichever
	// ends first.
	Window float64 `json:"window_s,omitempty"`

	// Limit bounds every phase, in seconds; FailoverLimit the wait for
	// recovery after a kill.
	Limit         float64 `json:"limit_s"`
	FailoverLimit float64 `json:"failover_limit_s"`
}

// Callers of every workload, from the eigr/mesh suite.
const (
	b1Callers = 500
	b2Callers = 200
	b4Callers = 500
	b5Callers = 300
	c1Callers = 256
	c2Callers = 500
	mCallers  = 500
)

// curveCallers are the caller counts of the throughput curves.
var curveCallers = []int{1, 16, 64, 256}

// The payload sizes of B5 and C1, and the phase of each; the first is the
// headline size, and every other workload's payload.
var payloadSizes = []int{16, 1024, 64 << 10}

// payloadPhase names the timed call phase of a payload size.
func payloadPhase(size int) string {
	switch {
	case size == defaultPayload:
		return phCall
	case size%1024 == 0:
		return phCall + "_" + strconv.Itoa(size/1024) + "KiB"
	}
	return phCall + "_" + strconv.Itoa(size) + "B"
}

// payloadLabel is a payload size as the report writes it.
func payloadLabel(size int) string {
	if size%1024 == 0 {
		return strconv.Itoa(size/1024) + " KiB"
	}
	return strconv.Itoa(size) + " B"
}

// fullParams are quickParams over more rounds, M at a million
// activations and R1 at 100,000 states.
func fullParams() params {
	p := quickParams()
	p.Mode, p.Rounds, p.ClusterRounds, p.RRounds = "full", 7, 4, 3
	p.M = 1_000_000
	p.R1IDs = 100_000
	return p
}

// quickParams finish in minutes on two cores. Every timed window lasts 2 s
// or 100,000 operations, whichever ends first, so that a window means
// something and p99 has 10,000 samples behind it wherever it is quoted.
// B1 therefore activates 100,000 IDs, not the eigr/mesh suite's 50,000.
// R2 activates fewer IDs than the suite's 10,000 only to keep the survey
// before and after each failure short; R1 holds 20,000 states here and
// 100,000 in full mode.
func quickParams() params {
	return params{
		Mode: "quick", Rounds: 3, ClusterRounds: 2, RRounds: 1,
		B1: 100_000, B2: 100_000, B4: 100_000, B5IDs: 5_000, B5Calls: 100_000,
		B6IDs: 1_000, B6Calls: 100_000, M: 100_000,
		C1IDs: 10_000, C1Calls: 100_000, C2Acts: 100_000, C2Calls: 100_000,
		C3IDs: 1_000, C3Calls: 100_000, ScaleNodes: []int{2, 4, 8},
		Payloads: payloadSizes,
		CurveN:   100_000, R1IDs: 20_000, R2IDs: 3_000,
		SSaves: 100_000, SLoads: 20_000,
		Window: 2, Limit: 120, FailoverLimit: 30,
	}
}

// profileParams enlarge the profiled runs so that their CPU profiles hold
// seconds of samples.
func profileParams(p params) params {
	p.B1 = max(p.B1, 300_000)
	p.B5Calls = max(p.B5Calls, 2_000_000)
	p.C1Calls = max(p.C1Calls, 1_000_000)
	p.Window = max(p.Window, 6)
	p.Payloads = p.payloads()[:1]
	return p
}

// smokeParams are tiny: they check that every program runs.
func smokeParams() params {
	return params{
		Mode: "smoke", Rounds: 1, ClusterRounds: 1, RRounds: 1,
		B1: 300, B2: 300, B4: 300, B5IDs: 100, B5Calls: 300,
		B6IDs: 50, B6Calls: 100, M: 300,
		C1IDs: 100, C1Calls: 300, C2Acts: 200, C2Calls: 300,
		C3IDs: 50, C3Calls: 100, ScaleNodes: []int{2, 3},
		Payloads: payloadSizes,
		CurveN:   100, R1IDs: 100, R2IDs: 100,
		SSaves: 200, SLoads: 300,
		Window: 20, Limit: 30, FailoverLimit: 20,
	}
}
