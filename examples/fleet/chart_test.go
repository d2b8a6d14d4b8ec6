package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"
)

// releaseTimeline is a run of 60 s in 1 s buckets: the release widens
// orders-create-v2 to 10, 25 and 50 % and reports-v2 to 10 %; from 20 s
// the new path fails a third of its calls, two breakers trip and the
// release rolls back at 24.5 s, after which the new path serves nothing
// (its failure rate ends); --chaos kills an instance at 40 s and no call is
// answered until 42 s (a gap in both paths' failure rates).
func releaseTimeline() timeline {
	at := func(d time.Duration) *time.Duration { return &d }
	tl := timeline{
		Fault:  "error=0.33",
		End:    60 * time.Second,
		Bucket: time.Second,
		Weights: []weightChange{
			{At: 2 * time.Second, Flag: "orders-create-v2", Percent: 10},
			{At: 3 * time.Second, Flag: "reports-v2", Percent: 10},
			{At: 10 * time.Second, Flag: "orders-create-v2", Percent: 25},
			{At: 18 * time.Second, Flag: "orders-create-v2", Percent: 50},
			{At: 24500 * time.Millisecond, Flag: "orders-create-v2", Percent: 0},
			{At: 24500 * time.Millisecond, Flag: "reports-v2", Percent: 0},
		},
		FaultFirst: at(20200 * time.Millisecond),
		Trips: []trip{
			{At: 23 * time.Second, Instance: "instance 2", Flag: "orders-create-v2"},
			{At: 21400 * time.Millisecond, Instance: "instance 1", Flag: "orders-create-v2"},
		},
		Rollback: at(24500 * time.Millisecond),
		Killed:   at(40 * time.Second),
	}
	for s := range 60 {
		share := 0
		switch {
		case s >= 25:
		case s >= 18:
			share = 50
		case s >= 10:
			share = 25
		case s >= 2:
			share = 10
		}
		newCalls := 80 * share / 100
		failed := 0
		if s >= 20 && s < 25 {
			failed = newCalls / 3
		}
		oldCalls := 80 - newCalls
		if s >= 40 && s < 42 {
			oldCalls = 0
		}
		tl.New = append(tl.New, rate{Calls: newCalls, Failed: failed})
		tl.Old = append(tl.Old, rate{Calls: oldCalls})
	}
	return tl
}

func TestDrawChartPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.PNG")
	require.NoError(t, drawChart(releaseTimeline(), path))

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 1000, 700), img.Bounds())

	// Every colour the chart gives a line shows in the panels (left of the
	// legends, which draw each colour too): the background alone, or a
	// chart without one of its lines, fails.
	panels := image.Rect(0, 0, 1000-300-10, 700)
	for name, want := range map[string]color.RGBA{
		"background":                {R: 255, G: 255, B: 255, A: 255},
		"orders-create-v2":          flagColors[0],
		"reports-v2":                flagColors[1],
		"new path failed":           newColor,
		"new path requests":         lighter(newColor),
		"old path failed":           oldColor,
		"old path requests":         lighter(oldColor),
		"fault first seen":          faultColor,
		"breaker trip":              tripColor,
		"rollback, titles and axes": rollbackColor,
		"chaos kill":                killColor,
	} {
		assert.True(t, hasColor(img, panels, want), "no pixel of %s %v", name, want)
	}
	assert.False(t, hasColor(img, img.Bounds(), promoteColor), "a promotion is drawn though the release was not promoted")
}

// hasColor reports whether some pixel of img in area is within a small
// distance of want in each channel (lines are drawn anti-aliased).
func hasColor(img image.Image, area image.Rectangle, want color.RGBA) bool {
	near := func(a uint32, b uint8) bool {
		d := int(a>>8) - int(b)
		return d >= -8 && d <= 8
	}
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r, want.R) && near(g, want.G) && near(b, want.B) {
				return true
			}
		}
	}
	return false
}

func TestDrawChartSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.svg")
	require.NoError(t, drawChart(releaseTimeline(), path))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := xml.NewDecoder(bytes.NewReader(data))
	var texts []string
	var root *xml.StartElement
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == nil {
				root = &tok
			}
		case xml.CharData:
			texts = append(texts, string(tok))
		}
	}
	require.NotNil(t, root)
	assert.Equal(t, "svg", root.Name.Local)
	// 750 points are 1000 CSS pixels, 525 are 700.
	assert.Contains(t, root.Attr, xml.Attr{Name: xml.Name{Local: "width"}, Value: "750pt"})
	assert.Contains(t, root.Attr, xml.Attr{Name: xml.Name{Local: "height"}, Value: "525pt"})
	for _, want := range []string{
		"release under fault error=0.33: rolled back at 24.5 s",
		"canary share: orders-create-v2",
		"canary share: reports-v2",
		"fault first seen 20.2 s",
		"breaker trip 21.4 s: instance 1, orders-create-v2",
		"breaker trip 23.0 s: instance 2, orders-create-v2",
		"rollback committed 24.5 s",
		"instance killed (chaos) 40.0 s",
		"new path: failed (%)",
		"old path: failed (%)",
		"new path: requests (100% = 80.0/s)",
		"seconds from the start",
	} {
		assert.Contains(t, texts, want)
	}
	for _, absent := range []string{"promoted", "requests: none"} {
		assert.NotContains(t, string(data), absent)
	}
}

func TestDrawChartRefusesOtherFormats(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"run.jpg", "run.txt", "run"} {
		path := filepath.Join(dir, name)
		err := drawChart(releaseTimeline(), path)
		require.Error(t, err, name)
		assert.Equal(t, "chart "+path+": the file name must end in .png or .svg", err.Error())
		assert.NoFileExists(t, path)
	}
}

func TestDrawChartEmptyTimeline(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"empty.png", "empty.svg"} {
		path := filepath.Join(dir, name)
		require.NoError(t, drawChart(timeline{}, path), name)
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Positive(t, info.Size(), name)
	}

	data, err := os.ReadFile(filepath.Join(dir, "empty.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(data), "release under fault none: neither rolled back nor promoted")
	assert.NotContains(t, string(data), "canary share:")
}

func TestDrawChartMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "run.png")
	err := drawChart(releaseTimeline(), path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestDrawChartRefusesBucketsWithoutWidth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.png")
	tl := releaseTimeline()
	tl.Bucket = 0
	err := drawChart(tl, path)
	require.Error(t, err)
	assert.Equal(t, "chart "+path+": the timeline has buckets of width 0s", err.Error())
	assert.NoFileExists(t, path)
}

func TestChartTitle(t *testing.T) {
	at := func(d time.Duration) *time.Duration { return &d }
	for _, tc := range []struct {
		tl   timeline
		want string
	}{
		{timeline{}, "release under fault none: neither rolled back nor promoted"},
		{timeline{Fault: "latency=200ms", Promoted: at(31 * time.Second)}, "release under fault latency=200ms: promoted at 31.0 s"},
		{timeline{Fault: "panic=0.1", Rollback: at(12500 * time.Millisecond)}, "release under fault panic=0.1: rolled back at 12.5 s"},
		{
			timeline{Fault: "error=0.5", Promoted: at(30 * time.Second), Rollback: at(45 * time.Second)},
			"release under fault error=0.5: promoted at 30.0 s, then rolled back at 45.0 s",
		},
	} {
		assert.Equal(t, tc.want, chartTitle(tc.tl))
	}
}

func TestShareSteps(t *testing.T) {
	steps := shareSteps([]weightChange{
		{At: 2 * time.Second, Flag: "a", Percent: 10},
		{At: 3 * time.Second, Flag: "b", Percent: 5},
		{At: 8 * time.Second, Flag: "a", Percent: 0},
	}, 20)
	assert.Equal(t, []flagSteps{
		{flag: "a", points: plotter.XYs{{X: 0, Y: 0}, {X: 2, Y: 10}, {X: 8, Y: 0}, {X: 20, Y: 0}}},
		{flag: "b", points: plotter.XYs{{X: 0, Y: 0}, {X: 3, Y: 5}, {X: 20, Y: 5}}},
	}, steps)
	assert.Empty(t, shareSteps(nil, 20))
}

func TestBucketRunsLeaveGaps(t *testing.T) {
	failure := func(r rate) (float64, bool) {
		return 100 * float64(r.Failed) / float64(r.Calls), r.Calls > 0
	}
	runs := bucketRuns([]rate{{Calls: 4, Failed: 1}, {Calls: 2}, {}, {}, {Calls: 5, Failed: 5}, {}}, 2*time.Second, failure)
	assert.Equal(t, []plotter.XYs{
		{{X: 0, Y: 25}, {X: 2, Y: 25}, {X: 2, Y: 0}, {X: 4, Y: 0}},
		{{X: 8, Y: 100}, {X: 10, Y: 100}},
	}, runs)
	assert.Empty(t, bucketRuns([]rate{{}, {}}, time.Second, failure))
}
