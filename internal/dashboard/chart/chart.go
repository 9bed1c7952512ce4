// Package chart draws the dashboard's small line charts as inline SVG, written
// on the server: no script, no request of its own, nothing the page's
// Content-Security-Policy would refuse (no style attribute: the lines' colours
// come from the stylesheet, by class).
//
// It owns the drawing only: what a chart shows is the dashboard's.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Line is one series of a chart.
type Line struct {
	// Name is its legend, e.g. "requests/s".
	Name string
	// Class is its CSS class (letters, digits and '-'; others are dropped), by
	// which the stylesheet colours it.
	Class string
	// Values are its points, evenly spaced, oldest first. A value that is not a
	// finite number of at least 0 is drawn as 0.
	Values []float64
}

// Chart is a small line chart: lines over a shared y axis from 0, an x axis
// from Since to "now", and a legend.
type Chart struct {
	// ID makes the ids of its title and description unique in the page
	// (letters, digits and '-').
	ID string
	// Title names the chart to people and assistive technology.
	Title string
	// Since labels the left end of the x axis, e.g. "60 min ago".
	Since string
	Lines []Line
}

// Geometry of the drawing, in the units of its viewBox.
const (
	width, height = 600, 150
	left, right   = 46, 592 // the plot's x range
	top, base     = 10, 108 // the plot's y range: top is the axis' maximum, base 0
	labelY        = 124     // the x axis' labels
	legendY       = 143     // the legend's baseline
)

// SVG is the chart as an svg element to put in a page as it is.
func (c Chart) SVG() template.HTML {
	var b strings.Builder
	id := clean(c.ID)
	peak := 0.0
	for _, l := range c.Lines {
		for _, v := range l.Values {
			peak = max(peak, value(v))
		}
	}
	axis := ceil(peak)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc">`, width, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, id, esc(c.Title))
	fmt.Fprintf(&b, `<desc id="%s-desc">%s</desc>`, id, esc(c.describe()))
	// The y axis: grid lines and labels at its top, middle and 0.
	for _, g := range []float64{axis, axis / 2, 0} {
		y := yOf(g, axis)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%s" x2="%d" y2="%s"></line>`, left, num(y), right, num(y))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%s" text-anchor="end">%s</text>`, left-6, num(y+4), strconv.FormatFloat(g, 'f', -1, 64))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, left, labelY, esc(c.Since))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">now</text>`, right, labelY)
	for _, l := range c.Lines {
		if len(l.Values) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"></polyline>`, clean(l.Class), points(l.Values, axis))
	}
	// The legend: a stroke of each line's colour and its name.
	x := left
	for _, l := range c.Lines {
		fmt.Fprintf(&b, `<line class="line %s" x1="%d" y1="%d" x2="%d" y2="%d"></line>`, clean(l.Class), x, legendY-4, x+16, legendY-4)
		fmt.Fprintf(&b, `<text class="legend" x="%d" y="%d">%s</text>`, x+21, legendY, esc(l.Name))
		x += 21 + 8*len([]rune(l.Name)) + 18
	}
	b.WriteString(`</svg>`)
	// Every text and attribute above is escaped (esc) or cleaned (clean), and the
	// numbers are formatted here.
	return template.HTML(b.String())
}

// describe is the chart's description in words: each line's peak and last value.
func (c Chart) describe() string {
	parts := make([]string, 0, len(c.Lines))
	for _, l := range c.Lines {
		if len(l.Values) == 0 {
			parts = append(parts, l.Name+": no data")
			continue
		}
		peak := 0.0
		for _, v := range l.Values {
			peak = max(peak, value(v))
		}
		parts = append(parts, fmt.Sprintf("%s: peak %s, now %s", l.Name, Rate(peak), Rate(value(l.Values[len(l.Values)-1]))))
	}
	return "From " + c.Since + " to now. " + strings.Join(parts, "; ") + "."
}

// points are a line's vertices, spread over the plot's width, on a y axis up to
// axis.
func points(vs []float64, axis float64) string {
	var b strings.Builder
	step := 0.0
	if len(vs) > 1 {
		step = float64(right-left) / float64(len(vs)-1)
	}
	for i, v := range vs {
		x := float64(right)
		if len(vs) > 1 {
			x = left + step*float64(i)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(num(x) + "," + num(yOf(value(v), axis)))
	}
	return b.String()
}

// yOf is where v stands on a y axis from 0 to axis.
func yOf(v, axis float64) float64 { return base - v/axis*(base-top) }

// ceil is the axis' maximum for a peak: the next 1, 2 or 5 times a power of 10
// at or above it; 1 for a chart with nothing above 0.
func ceil(peak float64) float64 {
	if peak <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(peak)))
	for _, m := range []float64{1, 2, 5, 10} {
		if peak <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// value is v as drawn: NaN, infinities and negative values are 0.
func value(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// Rate writes a rate as people read it: whole numbers from 10 up, one decimal
// from 1, two below.
func Rate(v float64) string {
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// num writes a coordinate with one decimal.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// esc escapes text for an element's content or an attribute's value.
func esc(s string) string { return template.HTMLEscapeString(s) }

// clean keeps the letters, digits and '-' of a class or id.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, s)
}
