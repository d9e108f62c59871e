package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

type chart struct{ file, alt string }

var contenderColor = map[string]color.Color{
	meshC:      color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	meshTLS:    color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
	meshSave:   color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	meshSavePG: color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	ceiling:    color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	futures:    color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	wireC:      color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	peer:       color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

var contenderLabel = map[string]string{
	meshC:      "mesh",
	meshTLS:    "mesh+TLS",
	meshSave:   "mesh saving on change (SQLite)",
	meshSavePG: "mesh saving on change (PostgreSQL)",
	ceiling:    "fair ceiling (protoactor, mesh's machinery)",
	futures:    "protoactor (RequestFuture)",
	wireC:      "wire limit (raw gRPC streams)",
	peer:       "peer (protoactor cluster)",
}

// writeCharts draws the throughput curves and latency distributions and
// returns them by workload.
func writeCharts(dir string, s *suite) (map[string][]chart, error) {
	out := map[string][]chart{}
	curves := []struct{ w, file, title string }{
		{"B5", "curve-local.png", "Warm calls on one node: throughput per caller count"},
		{"C1", "curve-cross-node.png", "Cross-node calls (3 node processes): throughput per caller count"},
	}
	for _, c := range curves {
		ok, err := curveChart(filepath.Join(dir, c.file), c.title, s, c.w)
		if err != nil {
			return nil, err
		}
		if ok {
			out[c.w] = append(out[c.w], chart{c.file, c.title})
		}
	}
	lats := []struct{ w, file, title string }{
		{"B6", "latency-B6.png", "B6: sequential call latency, one caller"},
		{"B5", "latency-B5.png", "B5: warm call latency under load (300 callers, 16 B)"},
		{"C1", "latency-C1.png", "C1: cross-node call latency under load (256 callers, 16 B)"},
		{"C3", "latency-C3.png", "C3: sequential cross-node call latency, one caller"},
	}
	for _, l := range lats {
		ok, err := latencyChart(filepath.Join(dir, l.file), l.title, s, l.w, phCall)
		if err != nil {
			return nil, err
		}
		if ok {
			out[l.w] = append(out[l.w], chart{l.file, l.title})
		}
	}
	return out, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

func addSeries(p *plot.Plot, c, label string, xys plotter.XYs) error {
	l, sc, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = contenderColor[c]
	l.Width = vg.Points(1.8)
	sc.Color = contenderColor[c]
	sc.Shape = draw.CircleGlyph{}
	p.Add(l, sc)
	p.Legend.Add(label, l, sc)
	return nil
}

func curveChart(file, title string, s *suite, w string) (bool, error) {
	p := newPlot(title, "concurrent callers", "calls per second (median of rounds)")
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, n := range curveCallers {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	any := false
	for _, c := range contenders {
		var xys plotter.XYs
		for _, n := range curveCallers {
			sp, ok := figures(s, w, c, row{get: rate(curvePhase(n))})
			if ok {
				xys = append(xys, plotter.XY{X: float64(n), Y: sp.Median})
			}
		}
		if len(xys) < 2 {
			continue // a log axis needs a range
		}
		any = true
		if err := addSeries(p, c, contenderLabel[c], xys); err != nil {
			return false, err
		}
	}
	if !any {
		return false, nil
	}
	return true, p.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

// mergedHist merges a phase's latency histograms over every round.
func mergedHist(s *suite, w, c, phase string) *hdrhistogram.Histogram {
	var all *hdrhistogram.Histogram
	for _, r := range s.Results {
		if r.Workload != w || r.Contender != c || r.Err != "" {
			continue
		}
		ph, ok := r.Phases[phase]
		if !ok {
			continue
		}
		h := histOf(ph)
		if h == nil {
			continue
		}
		if all == nil {
			all = h
		} else {
			all.Merge(h)
		}
	}
	return all
}

// latencyChart draws latency against percentile on the usual HDR axis,
// where 90%, 99%, 99.9% are evenly spaced, up to the last percentile with
// 100 samples beyond it.
func latencyChart(file, title string, s *suite, w, phase string) (bool, error) {
	p := newPlot(title, "percentile", "latency (µs, log scale)")
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var ticks []plot.Tick
	for _, q := range []float64{0, 50, 90, 99, 99.9, 99.99} {
		ticks = append(ticks, plot.Tick{Value: 1 / (1 - q/100), Label: strconv.FormatFloat(q, 'f', -1, 64) + "%"})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	any := false
	for _, c := range contenders {
		h := mergedHist(s, w, c, phase)
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		var xys plotter.XYs
		for _, q := range quantiles() {
			if !enoughBeyond(h.TotalCount(), q) {
				break // the report's rule for quoting a percentile
			}
			v := float64(h.ValueAtQuantile(q)) / 1e3
			xys = append(xys, plotter.XY{X: 1 / (1 - q/100), Y: math.Max(v, 0.1)})
		}
		if len(xys) < 2 {
			continue // a log axis needs a range
		}
		label := fmt.Sprintf("%s, %s calls", contenderLabel[c], commas(float64(h.TotalCount())))
		if err := addSeries(p, c, label, xys); err != nil {
			return false, err
		}
		any = true
	}
	if !any {
		return false, nil
	}
	return true, p.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

// quantiles are the percentiles plotted, dense towards the tail.
func quantiles() []float64 {
	return []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99}
}
