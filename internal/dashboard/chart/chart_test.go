package chart

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is what the tests read of a chart.
type svgDoc struct {
	ViewBox string `xml:"viewBox,attr"`
	Labels  string `xml:"aria-labelledby,attr"`
	Title   struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	} `xml:"title"`
	Desc struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	} `xml:"desc"`
	Lines []struct {
		Class  string `xml:"class,attr"`
		Points string `xml:"points,attr"`
	} `xml:"polyline"`
	Texts []string `xml:"text"`
}

// parse reads a chart's SVG as XML: it must be well-formed, whatever its text.
func parse(t *testing.T, c Chart) svgDoc {
	t.Helper()
	var d svgDoc
	if err := xml.Unmarshal([]byte(c.SVG()), &d); err != nil {
		t.Fatalf("the SVG is not well-formed: %v\n%s", err, c.SVG())
	}
	return d
}

// vertices are a polyline's points.
func vertices(t *testing.T, points string) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, p := range strings.Fields(points) {
		xs, ys, ok := strings.Cut(p, ",")
		x, err1 := strconv.ParseFloat(xs, 64)
		y, err2 := strconv.ParseFloat(ys, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("point %q", p)
		}
		out = append(out, [2]float64{x, y})
	}
	return out
}

func TestPointsScale(t *testing.T) {
	t.Parallel()
	c := Chart{ID: "batch", Title: "Sending", Since: "60 min ago", Lines: []Line{
		{Name: "requests/s", Class: "requests", Values: []float64{0, 4, 8}},
		{Name: "429s/s", Class: "throttled", Values: []float64{1, 0, 0}},
	}}
	d := parse(t, c)
	if d.ViewBox != "0 0 600 150" || d.Labels != "batch-title batch-desc" || d.Title.ID != "batch-title" || d.Desc.ID != "batch-desc" {
		t.Errorf("svg attributes: %+v", d)
	}
	if len(d.Lines) != 2 || d.Lines[0].Class != "line requests" || d.Lines[1].Class != "line throttled" {
		t.Fatalf("polylines %+v", d.Lines)
	}
	// The axis goes to 10 (the next 1, 2, 5 × 10ⁿ above 8): 8 is 80% up.
	got := vertices(t, d.Lines[0].Points)
	want := [][2]float64{{left, base}, {(left + right) / 2, base - 0.4*(base-top)}, {right, base - 0.8*(base-top)}}
	for i := range want {
		if math.Abs(got[i][0]-want[i][0]) > 0.06 || math.Abs(got[i][1]-want[i][1]) > 0.06 {
			t.Errorf("vertex %d at %v, want %v", i, got[i], want[i])
		}
	}
	if d.Texts[0] != "10" || d.Texts[1] != "5" || d.Texts[2] != "0" {
		t.Errorf("y labels %q, want 10, 5, 0", d.Texts[:3])
	}
	if !strings.Contains(strings.Join(d.Texts, "|"), "60 min ago|now") {
		t.Errorf("x labels missing: %q", d.Texts)
	}
	if want := "From 60 min ago to now. requests/s: peak 8.0, now 8.0; 429s/s: peak 1.0, now 0."; d.Desc.Text != want {
		t.Errorf("desc %q, want %q", d.Desc.Text, want)
	}
	for _, name := range []string{"requests/s", "429s/s"} {
		if !strings.Contains(strings.Join(d.Texts, "|"), name) {
			t.Errorf("legend without %q: %q", name, d.Texts)
		}
	}
}

// TestEmptySeries: nothing sent is a flat line at 0 on an axis up to 1; a line
// without points is left out of the drawing and said to have no data.
func TestEmptySeries(t *testing.T) {
	t.Parallel()
	d := parse(t, Chart{ID: "x", Title: "t", Since: "1 h ago", Lines: []Line{
		{Name: "zeros", Class: "a", Values: make([]float64, 360)},
		{Name: "none", Class: "b"},
		{Name: "odd", Class: "c", Values: []float64{math.NaN(), math.Inf(1), -3}},
	}})
	if len(d.Lines) != 2 {
		t.Fatalf("%d polylines, want 2 (the empty line left out)", len(d.Lines))
	}
	for _, l := range d.Lines {
		vs := vertices(t, l.Points)
		for _, v := range vs {
			if v[1] != base {
				t.Fatalf("%s: vertex %v off the baseline %d", l.Class, v, base)
			}
		}
		if vs[0][0] != left || vs[len(vs)-1][0] != right {
			t.Errorf("%s spans %v to %v, want the plot's width", l.Class, vs[0], vs[len(vs)-1])
		}
	}
	if d.Texts[0] != "1" {
		t.Errorf("axis top %q, want 1", d.Texts[0])
	}
	if !strings.Contains(d.Desc.Text, "none: no data") || !strings.Contains(d.Desc.Text, "odd: peak 0, now 0") {
		t.Errorf("desc %q", d.Desc.Text)
	}
	// One point stands at the right end.
	one := parse(t, Chart{ID: "y", Lines: []Line{{Name: "one", Values: []float64{2}}}})
	if vs := vertices(t, one.Lines[0].Points); len(vs) != 1 || vs[0][0] != right || vs[0][1] != top {
		t.Errorf("a single point at %v", vs)
	}
}

// TestEscaping: text from the caller cannot leave its element or attribute.
func TestEscaping(t *testing.T) {
	t.Parallel()
	evil := `</title><script>alert(1)</script>"'&`
	c := Chart{ID: `x" onload="alert(1)`, Title: evil, Since: evil, Lines: []Line{{Name: evil, Class: `a" onclick="b`, Values: []float64{1}}}}
	svg := string(c.SVG())
	for _, bad := range []string{"<script", `" onload`, `" onclick`, "</title><script"} {
		if strings.Contains(svg, bad) {
			t.Errorf("the SVG holds %q:\n%s", bad, svg)
		}
	}
	d := parse(t, c)
	if d.Title.Text != evil || d.Title.ID != "xonloadalert1-title" || d.Lines[0].Class != "line aonclickb" {
		t.Errorf("title %q id %q class %q", d.Title.Text, d.Title.ID, d.Lines[0].Class)
	}
	if strings.Contains(svg, "style=") {
		t.Error("a style attribute: the CSP refuses it")
	}
}

func TestCeilAndRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		peak, axis float64
	}{{0, 1}, {0.03, 0.05}, {1, 1}, {1.2, 2}, {3, 5}, {7.5, 10}, {10, 10}, {11, 20}, {480, 500}} {
		if got := ceil(tc.peak); math.Abs(got-tc.axis) > 1e-9 {
			t.Errorf("ceil(%v) = %v, want %v", tc.peak, got, tc.axis)
		}
	}
	for v, want := range map[float64]string{0: "0", 0.126: "0.13", 2.25: "2.2", 12.6: "13"} {
		if got := Rate(v); got != want {
			t.Errorf("Rate(%v) = %q, want %q", v, got, want)
		}
	}
}
