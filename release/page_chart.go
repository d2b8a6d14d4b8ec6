package release

import (
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/internal/httpjson"
)

// serveChart draws, as SVG, the error-rate or latency measurements of a
// release's attempt over time, the new arm beside the old, with the
// release's step changes and its end marked.
func (p *Page) serveChart(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	metric, ok := strings.CutSuffix(r.PathValue("chart"), ".svg")
	if !ok || metric != MetricErrorRate && metric != MetricLatency {
		httpjson.Write(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("release: page: no chart %q: there are %s.svg and %s.svg", r.PathValue("chart"), MetricErrorRate, MetricLatency)})
		return
	}
	if !p.allowed(r, ActionRead, id) {
		httpjson.Write(w, http.StatusForbidden, errorBody{Error: "release: page: you may not read this release"})
		return
	}
	attempt := 0
	if v := r.URL.Query().Get("attempt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			httpjson.Write(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("release: page: attempt=%q is not a whole number ≥ 1", v)})
			return
		}
		attempt = n
	}
	if attempt == 0 {
		st, err := p.c.Status(r.Context(), id)
		if err != nil {
			p.chartFail(w, r, id, err)
			return
		}
		attempt = st.Attempt
	}
	evs, err := p.c.History(r.Context(), id, HistoryFilter{Attempt: attempt})
	if err != nil {
		p.chartFail(w, r, id, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(drawChart(metric, evs)))
}

func (p *Page) chartFail(w http.ResponseWriter, r *http.Request, id string, err error) {
	if errors.Is(err, ErrNotFound) {
		httpjson.Write(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("release: page: no release %q", id)})
		return
	}
	p.fail(w, r, "draw a chart", err)
}

// chart geometry, in SVG user units.
const (
	chartW, chartH                       = 640, 246
	padLeft, padRight, padTop, padBottom = 56, 12, 52, 30
)

// chartLook holds the presentation attributes of the axes and marks: the
// chart is served under the page's CSP, which allows no style element.
var chartLook = map[string]string{
	"axis":     `stroke="#888"`,
	"grid":     `stroke="#ddd"`,
	"step":     `stroke="#868e96" stroke-dasharray="3 3"`,
	"rollback": `stroke="#c92a2a" stroke-width="2"`,
	"promoted": `stroke="#2b8a3e" stroke-width="2"`,
}

type chartPoint struct {
	t time.Time
	v float64
}

type chartSeries struct {
	name string
	look string // the line's presentation attributes
	pts  []chartPoint
}

// chartHues are the colours of the flags' lines, in the order the flags
// are first measured; a flag's new code path is a solid line, its old one
// dashed.
var chartHues = []string{"#d9480f", "#1c7ed6", "#2b8a3e", "#7048e8", "#c2255c", "#0b7285"}

type chartMark struct {
	t     time.Time
	label string
	class string
}

// drawChart draws the measurements of metric among evs (one attempt's
// events, oldest first) and marks its steps, rollback and promotion.
func drawChart(metric string, evs []Event) string {
	series := map[string]*chartSeries{}
	var order []string
	var marks []chartMark
	add := func(name, look string, t time.Time, v *float64) {
		if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
			return
		}
		val := *v * 1000 // a latency in ms
		if metric == MetricErrorRate {
			val = *v * 100
		}
		if math.Abs(val) > math.MaxFloat64/16 {
			return // beyond what a chart can draw: its axis would overflow
		}
		s, ok := series[name]
		if !ok {
			s = &chartSeries{name: name, look: look}
			series[name] = s
			order = append(order, name)
		}
		s.pts = append(s.pts, chartPoint{t, val})
	}
	hue := map[string]string{}
	for _, e := range evs {
		if m := e.Measurement; e.Kind == EventMeasurement && m != nil && m.Metric == metric {
			if _, ok := hue[m.Flag]; !ok {
				hue[m.Flag] = chartHues[len(hue)%len(chartHues)]
			}
		}
	}
	var start, end time.Time
	for _, e := range evs {
		if start.IsZero() {
			start = e.At
		}
		end = e.At
		switch e.Kind {
		case EventMeasurement:
			m := e.Measurement
			if m == nil || m.Metric != metric {
				continue
			}
			prefix := ""
			if len(hue) > 1 {
				prefix = m.Flag + " "
			}
			add(prefix+"new", fmt.Sprintf(`stroke="%s" stroke-width="2"`, hue[m.Flag]), m.At, m.Canary)
			add(prefix+"old", fmt.Sprintf(`stroke="%s" stroke-width="2" stroke-dasharray="6 3"`, hue[m.Flag]), m.At, m.Baseline)
		case EventStep:
			marks = append(marks, chartMark{e.At, fmt.Sprintf("step %d", e.Step+1), "step"})
		case EventRollback:
			marks = append(marks, chartMark{e.At, "rollback", "rollback"})
		case EventPromoted:
			marks = append(marks, chartMark{e.At, "promoted", "promoted"})
		}
	}
	unit, title := "ms", "latency"
	if metric == MetricErrorRate {
		unit, title = "%", "error rate"
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="system-ui, sans-serif" font-size="11" fill="#333">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="14" font-weight="bold">%s (%s): new code path solid, old dashed</text>`, padLeft, title, unit)
	if len(order) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no %s measurement yet</text></svg>`, chartW/2-70, chartH/2, title)
		return b.String()
	}
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	// Room after the last event, so that a mark there shows.
	end = end.Add(end.Sub(start) / 25)
	top := 0.0
	for _, s := range series {
		for _, pt := range s.pts {
			top = math.Max(top, pt.v)
		}
	}
	ticks, top := niceTicks(top)
	x := func(t time.Time) float64 {
		return padLeft + float64(t.Sub(start))/float64(end.Sub(start))*(chartW-padLeft-padRight)
	}
	y := func(v float64) float64 { return chartH - padBottom - v/top*(chartH-padTop-padBottom) }
	for _, tv := range ticks {
		fmt.Fprintf(&b, `<line `+chartLook["grid"]+` x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padLeft, chartW-padRight, y(tv), y(tv), padLeft-4, y(tv)+4, strconv.FormatFloat(tv, 'g', 4, 64))
	}
	fmt.Fprintf(&b, `<line `+chartLook["axis"]+` x1="%d" x2="%d" y1="%d" y2="%d"/>`, padLeft, chartW-padRight, chartH-padBottom, chartH-padBottom)
	span := end.Sub(start)
	for i := 0; i <= 4; i++ {
		t := start.Add(span * time.Duration(i) / 4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(t), chartH-padBottom+14, sinceLabel(t.Sub(start)))
	}
	for _, m := range marks {
		// A label that would run off the right edge goes left of its line.
		lx, anchor := x(m.t)+2, "start"
		if lx > chartW-padRight-60 {
			lx, anchor = x(m.t)-2, "end"
		}
		fmt.Fprintf(&b, `<line %s x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><text x="%.1f" y="%d" font-size="10" text-anchor="%s">%s</text>`,
			chartLook[m.class], x(m.t), x(m.t), padTop, chartH-padBottom, lx, padTop+8, anchor, html.EscapeString(m.label))
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i] < order[j] })
	lx, ly := padLeft, 28
	for _, name := range order {
		s := series[name]
		pts := make([]string, len(s.pts))
		for j, pt := range s.pts {
			pts[j] = fmt.Sprintf("%.1f,%.1f", x(pt.t), y(pt.v))
		}
		fmt.Fprintf(&b, `<polyline %s fill="none" points="%s"><title>%s</title></polyline>`, s.look, strings.Join(pts, " "), html.EscapeString(name))
		// The legend is a row under the title, two when it is long.
		if w := 20 + 7*len(name); lx+w > chartW-padRight && lx > padLeft {
			lx, ly = padLeft, ly+12
		}
		fmt.Fprintf(&b, `<line %s x1="%d" x2="%d" y1="%d" y2="%d"/><text x="%d" y="%d">%s</text>`, s.look, lx, lx+16, ly, ly, lx+20, ly+4, html.EscapeString(name))
		lx += 20 + 7*len(name) + 16
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceTicks returns round tick values from 0 to at least top, and the
// highest of them (the chart's top; 1 when top is 0).
func niceTicks(top float64) ([]float64, float64) {
	if top <= 0 {
		top = 1
	}
	raw := top / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	n := int(math.Ceil(top/step - 1e-9))
	ticks := make([]float64, n+1)
	for i := range ticks {
		ticks[i] = float64(i) * step
	}
	return ticks, ticks[n]
}

// sinceLabel writes d as m:ss.
func sinceLabel(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
