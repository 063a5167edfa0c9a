package chart

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Series is one stacked layer: a value per bar.
type Series struct {
	Name   string
	Values []float64
}

// StackedBars is a chart of stacked bars: a bar per label, a segment per
// series, the first series at the bottom; a legend lists the series with
// their totals.
type StackedBars struct {
	Title    string
	Subtitle string
	YLabel   string // the unit of the values: "GPU-hours"
	Labels   []string
	Series   []Series
	// Width and Height of the image in pixels; 0: 960 by 480.
	Width, Height int
}

// Palette is the colors of the series, in order, then again: Okabe and
// Ito's, told apart by people with colour blindness.
var Palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

const (
	marginLeft   = 72
	marginRight  = 180
	marginTop    = 64
	marginBottom = 56
	charWidth    = 7 // of the 12px font, about
)

// WriteSVG writes the chart as an SVG document.
func (c *StackedBars) WriteSVG(w io.Writer) error {
	width, height := c.Width, c.Height
	if width <= 0 {
		width = 960
	}
	if height <= 0 {
		height = 480
	}
	plotW := float64(width - marginLeft - marginRight)
	plotH := float64(height - marginTop - marginBottom)
	if plotW <= 0 || plotH <= 0 {
		return fmt.Errorf("chart of %dx%d pixels: too small", width, height)
	}
	n := len(c.Labels)
	for _, s := range c.Series {
		if len(s.Values) != n {
			return fmt.Errorf("series %q has %d values for %d labels", s.Name, len(s.Values), n)
		}
	}
	totals := make([]float64, n)
	for _, s := range c.Series {
		for i, v := range s.Values {
			totals[i] += max(v, 0)
		}
	}
	top, step := axis(maxOf(totals))

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	text(&b, marginLeft, 24, "start", `font-size="16" font-weight="bold"`, c.Title)
	if c.Subtitle != "" {
		text(&b, marginLeft, 44, "start", `fill="#555555"`, c.Subtitle)
	}

	// The y axis: grid lines and ticks.
	y := func(v float64) float64 { return float64(marginTop) + plotH - v/top*plotH }
	for v := 0.0; v <= top+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%s" y2="%s" stroke="#dddddd"/>`+"\n", marginLeft, num(y(v)), num(float64(marginLeft)+plotW), num(y(v)))
		text(&b, marginLeft-6, y(v)+4, "end", "", num(v))
	}
	if c.YLabel != "" {
		x, yy := 16.0, float64(marginTop)+plotH/2
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" transform="rotate(-90 %s %s)">%s</text>`+"\n", num(x), num(yy), num(x), num(yy), escape(c.YLabel))
	}

	// The bars, bottom up.
	slot := 0.0
	if n > 0 {
		slot = plotW / float64(n)
	}
	barW := slot * 0.8
	for i := range n {
		x := float64(marginLeft) + slot*float64(i) + (slot-barW)/2
		base := 0.0
		for si, s := range c.Series {
			v := s.Values[i]
			if v <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s %s: %s %s</title></rect>`+"\n",
				num(x), num(y(base+v)), num(barW), num(y(base)-y(base+v)), Palette[si%len(Palette)],
				escape(s.Name), escape(c.Labels[i]), num(v), escape(c.YLabel))
			base += v
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", marginLeft, num(y(0)), num(float64(marginLeft)+plotW), num(y(0)))

	// The x labels, as many as fit.
	widest := 1
	for _, l := range c.Labels {
		widest = max(widest, len(l))
	}
	every := 1
	if slot > 0 {
		every = max(1, int(math.Ceil(float64(widest*charWidth+8)/slot)))
	}
	for i := 0; i < n; i += every {
		x := float64(marginLeft) + slot*float64(i) + slot/2
		text(&b, x, y(0)+18, "middle", "", c.Labels[i])
	}

	// The legend, with each series' total.
	lx := float64(width - marginRight + 16)
	for si, s := range c.Series {
		sum := 0.0
		for _, v := range s.Values {
			sum += max(v, 0)
		}
		ly := float64(marginTop) + float64(si)*20
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="12" height="12" fill="%s"/>`+"\n", num(lx), num(ly), Palette[si%len(Palette)])
		text(&b, lx+18, ly+10, "start", "", fmt.Sprintf("%s (%s)", s.Name, num(sum)))
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// axis returns the top of the y axis, a whole number of steps at or over
// maxV, and the step: the smallest of 1, 2, 5 or 10 times a power of ten
// that needs at most six steps.
func axis(maxV float64) (top, step float64) {
	if maxV <= 0 || math.IsNaN(maxV) || math.IsInf(maxV, 0) {
		return 1, 0.2
	}
	p := math.Pow(10, math.Floor(math.Log10(maxV/6)))
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * p
		if math.Ceil(maxV/step-1e-9) <= 6 {
			break
		}
	}
	return math.Ceil(maxV/step-1e-9) * step, step
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// num writes a number with at most two decimals and no trailing zeros.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// escape writes s as XML character data, as encoding/xml's EscapeText
// does: the five markup characters and tab, newline and carriage return as
// references, and what XML cannot hold (control characters, invalid UTF-8)
// as U+FFFD. It is written here so that gpuqctl, which links the chart,
// does not link and initialise encoding/xml.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\t':
			b.WriteString("&#x9;")
		case r == '\n':
			b.WriteString("&#xA;")
		case r == '\r':
			b.WriteString("&#xD;")
		case !xmlChar(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// xmlChar reports whether r is in XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func text(b *bytes.Buffer, x, y float64, anchor, attrs, s string) {
	if attrs != "" {
		attrs = " " + attrs
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="%s"%s>%s</text>`+"\n", num(x), num(y), anchor, attrs, escape(s))
}
