package main

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// px is one pixel of the PNG (drawn at chartDPI) and one CSS pixel of the
// SVG, whose sizes are written in points.
const (
	chartDPI = 96
	px       = vg.Inch / chartDPI

	chartWidth  = 1000 * px
	chartHeight = 700 * px
	// legendWidth is the column right of the panels that holds their
	// legends, so that no legend covers a line.
	legendWidth = 300 * px
)

// The markers and the two code paths take the colours of Okabe and Ito's
// palette, which readers who do not see red and green tell apart; the flags
// take viridis', so that no flag looks like a path or a marker.
var (
	newColor      = color.RGBA{R: 213, G: 94, A: 255}
	oldColor      = color.RGBA{G: 114, B: 178, A: 255}
	faultColor    = color.RGBA{R: 230, G: 159, A: 255}
	tripColor     = color.RGBA{R: 204, G: 121, B: 167, A: 255}
	rollbackColor = color.RGBA{A: 255}
	promoteColor  = color.RGBA{G: 158, B: 115, A: 255}
	killColor     = color.RGBA{R: 86, G: 180, B: 233, A: 255}
	flagColors    = []color.RGBA{
		{R: 68, G: 1, B: 84, A: 255},
		{R: 33, G: 145, B: 140, A: 255},
		{R: 59, G: 82, B: 139, A: 255},
		{R: 94, G: 201, B: 98, A: 255},
	}
)

// drawChart draws tl into path, as PNG or SVG by the file's extension (.png
// or .svg, in any case): the canary share of each flag over time above, the
// failure and request rates of the new and the old code path below, and on
// both a vertical marker for each event of the run (the fault's first
// showing, breaker trips, rollback, promotion, chaos kill). The chart is
// 1000×700 pixels; a timeline with nothing in it draws empty axes.
func drawChart(tl timeline, path string) error {
	c, err := newChartCanvas(path)
	if err != nil {
		return err
	}
	if len(tl.New)+len(tl.Old) > 0 && tl.Bucket <= 0 {
		return fmt.Errorf("chart %s: the timeline has buckets of width %v", path, tl.Bucket)
	}
	drawTimeline(draw.New(c), tl)
	return writeChart(c, path)
}

// newChartCanvas returns the canvas that path's extension asks for.
func newChartCanvas(path string) (vg.CanvasWriterTo, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		img := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI))
		return vgimg.PngCanvas{Canvas: img}, nil
	case ".svg":
		return vgsvg.New(chartWidth, chartHeight), nil
	}
	return nil, fmt.Errorf("chart %s: the file name must end in .png or .svg", path)
}

// writeChart writes c to path, and removes what it wrote when writing fails.
func writeChart(c io.WriterTo, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	_, err = c.WriteTo(f)
	err = errors.Join(err, f.Close())
	if err != nil {
		return errors.Join(fmt.Errorf("chart %s: %w", path, err), os.Remove(path))
	}
	return nil
}

// drawTimeline lays the title over the two panels and their legends.
func drawTimeline(dc draw.Canvas, tl timeline) {
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	margin := 10 * px
	title := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 14),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: plot.DefaultTextHandler,
	}
	heading := chartTitle(tl)
	dc.FillText(title, vg.Point{X: dc.Center().X, Y: dc.Max.Y - margin}, heading)

	body := draw.Crop(dc, margin, -margin, margin, -(2*margin + title.Height(heading)))
	panels := draw.Crop(body, 0, -legendWidth, 0, 0)
	legendX := panels.Max.X + margin

	end := max(tl.End.Seconds(), 0)
	if end == 0 {
		end = 1 // an axis needs a range; an empty run still draws one
	}
	events := eventMarkers(tl)

	shares, shareLegend := sharePanel(tl, end)
	rates, rateLegend := ratePanel(tl)
	// The markers cross both panels; their legend follows the flags', where
	// a reader looks first.
	for _, m := range events {
		shares.Add(m)
		rates.Add(m)
		shareLegend.Add(m.label, m)
	}
	for _, p := range []*plot.Plot{shares, rates} {
		p.X.Min, p.X.Max = 0, end
	}

	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: 2 * margin}
	canvases := plot.Align([][]*plot.Plot{{shares}, {rates}}, tiles, panels)
	for i, panel := range []struct {
		plot   *plot.Plot
		legend plot.Legend
	}{{shares, shareLegend}, {rates, rateLegend}} {
		panel.plot.Draw(canvases[i][0])
		data := panel.plot.DataCanvas(canvases[i][0])
		panel.legend.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: legendX, Y: data.Min.Y},
			Max: vg.Point{X: body.Max.X, Y: data.Max.Y},
		}})
	}
}

// chartTitle names the fault and the outcome of the release.
func chartTitle(tl timeline) string {
	fault := tl.Fault
	if fault == "" {
		fault = "none"
	}
	var outcome string
	switch {
	case tl.Rollback != nil && tl.Promoted != nil && *tl.Promoted < *tl.Rollback:
		outcome = fmt.Sprintf("promoted at %s, then rolled back at %s", seconds(*tl.Promoted), seconds(*tl.Rollback))
	case tl.Rollback != nil && tl.Promoted != nil:
		outcome = fmt.Sprintf("rolled back at %s, then promoted at %s", seconds(*tl.Rollback), seconds(*tl.Promoted))
	case tl.Rollback != nil:
		outcome = "rolled back at " + seconds(*tl.Rollback)
	case tl.Promoted != nil:
		outcome = "promoted at " + seconds(*tl.Promoted)
	default:
		outcome = "neither rolled back nor promoted"
	}
	return fmt.Sprintf("release under fault %s: %s", fault, outcome)
}

// seconds writes d as the x axis counts it.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// newPanel returns a plot with the chart's axes: x in seconds, y from 0 to
// 100, and a light grid.
func newPanel(yLabel string) *plot.Plot {
	p := plot.New()
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Y.Min, p.Y.Max = 0, 100
	return p
}

// newLegend returns a legend that draws from the top left of the canvas
// it is given.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.TextStyle.Font.Size = 10
	l.Padding = 2 * px
	return l
}

// sharePanel draws the canary share of each flag as a step line.
func sharePanel(tl timeline, end float64) (*plot.Plot, plot.Legend) {
	p := newPanel("canary share (%)")
	legend := newLegend()
	for i, s := range shareSteps(tl.Weights, end) {
		line := &plotter.Line{
			XYs:       s.points,
			StepStyle: plotter.PostStep,
			LineStyle: draw.LineStyle{Color: flagColors[i%len(flagColors)], Width: 2 * px},
		}
		p.Add(line)
		legend.Add("canary share: "+s.flag, line)
	}
	return p, legend
}

// flagSteps is the share of one flag over time, a point at each change.
type flagSteps struct {
	flag   string
	points plotter.XYs
}

// shareSteps returns the steps of each flag in changes, in the order the
// flags first changed: 0 from the start to the first change, each share
// held until the flag's next change, and the last held until end (seconds).
func shareSteps(changes []weightChange, end float64) []flagSteps {
	var steps []flagSteps
	for _, c := range changes {
		i := slices.IndexFunc(steps, func(s flagSteps) bool { return s.flag == c.Flag })
		if i < 0 {
			i = len(steps)
			steps = append(steps, flagSteps{flag: c.Flag, points: plotter.XYs{{X: 0, Y: 0}}})
		}
		steps[i].points = append(steps[i].points, plotter.XY{X: c.At.Seconds(), Y: float64(c.Percent)})
	}
	for i, s := range steps {
		last := s.points[len(s.points)-1]
		steps[i].points = append(s.points, plotter.XY{X: max(end, last.X), Y: last.Y})
	}
	return steps
}

// ratePanel draws each code path's failure rate and its request rate, the
// latter as a thinner, lighter dashed line in percent of the busiest bucket of
// either path, so that both fit the failure rate's 0 to 100.
func ratePanel(tl timeline) (*plot.Plot, plot.Legend) {
	p := newPanel("failed (%), requests (% of peak)")
	p.X.Label.Text = "seconds from the start"
	legend := newLegend()

	peak := 0
	for _, r := range slices.Concat(tl.New, tl.Old) {
		peak = max(peak, r.Calls)
	}
	requestsLabel := "requests: none"
	if peak > 0 {
		requestsLabel = fmt.Sprintf("requests (100%% = %.1f/s)", float64(peak)/tl.Bucket.Seconds())
	}

	for _, path := range []struct {
		name    string
		buckets []rate
		color   color.RGBA
	}{{"new", tl.New, newColor}, {"old", tl.Old, oldColor}} {
		if len(path.buckets) == 0 {
			continue
		}
		failed := &bucketLine{
			runs: bucketRuns(path.buckets, tl.Bucket, func(r rate) (float64, bool) {
				return 100 * float64(r.Failed) / float64(r.Calls), r.Calls > 0
			}),
			style: draw.LineStyle{Color: path.color, Width: 2 * px},
		}
		requests := &bucketLine{
			runs: bucketRuns(path.buckets, tl.Bucket, func(r rate) (float64, bool) {
				if peak == 0 {
					return 0, true
				}
				return 100 * float64(r.Calls) / float64(peak), true
			}),
			style: draw.LineStyle{Color: lighter(path.color), Width: 1 * px, Dashes: []vg.Length{4 * px, 3 * px}},
		}
		p.Add(requests, failed)
		legend.Add(path.name+" path: failed (%)", failed)
		legend.Add(path.name+" path: "+requestsLabel, requests)
	}
	return p, legend
}

// lighter returns c mixed with as much white, for the request rate of the
// path whose failure rate c draws.
func lighter(c color.RGBA) color.RGBA {
	mix := func(v uint8) uint8 { return uint8((int(v) + 255) / 2) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 255}
}

// bucketRuns returns value of each bucket as a step over the bucket's
// width, in runs of consecutive buckets that have a value: a bucket without
// one (value's ok false) ends a run and leaves a gap.
func bucketRuns(buckets []rate, width time.Duration, value func(rate) (float64, bool)) []plotter.XYs {
	var runs []plotter.XYs
	var run plotter.XYs
	for i, b := range buckets {
		v, ok := value(b)
		if !ok {
			if len(run) > 0 {
				runs = append(runs, run)
			}
			run = nil
			continue
		}
		from := time.Duration(i) * width
		run = append(run, plotter.XY{X: from.Seconds(), Y: v}, plotter.XY{X: (from + width).Seconds(), Y: v})
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	return runs
}

// bucketLine is a line with gaps: one polyline per run of points.
type bucketLine struct {
	runs  []plotter.XYs
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (l *bucketLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, run := range l.runs {
		pts := make([]vg.Point, len(run))
		for i, xy := range run {
			pts[i] = vg.Point{X: trX(xy.X), Y: trY(xy.Y)}
		}
		c.StrokeLines(l.style, c.ClipLinesXY(pts)...)
	}
}

// Thumbnail implements plot.Thumbnailer.
func (l *bucketLine) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.style, c.Min.X, y, c.Max.X, y)
}

// marker is a vertical line across a panel at one moment of the run.
type marker struct {
	label string
	at    time.Duration
	style draw.LineStyle
}

// Plot implements plot.Plotter; a marker outside the x axis is not drawn.
func (m marker) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.at.Seconds())
	if !c.ContainsX(x) {
		return
	}
	c.StrokeLine2(m.style, x, c.Min.Y, x, c.Max.Y)
}

// Thumbnail implements plot.Thumbnailer.
func (m marker) Thumbnail(c *draw.Canvas) {
	x := c.Center().X
	c.StrokeLine2(m.style, x, c.Min.Y, x, c.Max.Y)
}

// eventMarkers returns a marker for each event of tl, in time order.
func eventMarkers(tl timeline) []marker {
	line := func(c color.Color, dashes ...vg.Length) draw.LineStyle {
		return draw.LineStyle{Color: c, Width: 2 * px, Dashes: dashes}
	}
	var ms []marker
	add := func(at *time.Duration, label string, style draw.LineStyle) {
		if at != nil {
			ms = append(ms, marker{label: label + " " + seconds(*at), at: *at, style: style})
		}
	}
	add(tl.FaultFirst, "fault first seen", line(faultColor, 6*px, 3*px))
	for _, t := range tl.Trips {
		ms = append(ms, marker{
			label: fmt.Sprintf("breaker trip %s: %s, %s", seconds(t.At), t.Instance, t.Flag),
			at:    t.At,
			style: line(tripColor, 2*px, 2*px),
		})
	}
	add(tl.Rollback, "rollback committed", line(rollbackColor))
	add(tl.Promoted, "promoted", line(promoteColor))
	add(tl.Killed, "instance killed (chaos)", line(killColor, 8*px, 2*px, 2*px, 2*px))
	slices.SortStableFunc(ms, func(a, b marker) int { return cmp.Compare(a.at, b.at) })
	return ms
}
