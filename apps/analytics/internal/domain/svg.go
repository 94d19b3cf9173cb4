package domain

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// palette: ten colours that stay apart for most colour-blind readers
// (Okabe-Ito, then Tol's muted).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#332288", "#882255", "#117733"}

// SVG draws the report as a line chart: one path per series over the days,
// a y axis with rounded ticks, day labels, a legend and a title. Written
// here (about a hundred lines) rather than taken from a chart library: the
// module proxy's chart packages pull in font rasterisers and image codecs
// for what is a few lines of markup, and this one is served with a strict
// Content-Security-Policy (no script, no external font).
func SVG(r Report) string {
	const (
		w, h                       = 960, 440
		left, right, top, bottom   = 80, 220, 50, 70
		plotW, plotH               = w - left - right, h - top - bottom
		maxDayLabels, legendHeight = 10, 18
	)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, w, h, w, h)
	b.WriteString("\n")
	fmt.Fprintf(&b, `<title>%s</title>`+"\n", html.EscapeString(r.Title()))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(r.Title()))
	days := 0
	lo, hi := int64(0), int64(0)
	for _, s := range r.Series {
		days = max(days, len(s.Points))
		for _, p := range s.Points {
			lo, hi = min(lo, p.Value), max(hi, p.Value)
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	step := niceStep(float64(hi-lo) / 5)
	yMin := math.Floor(float64(lo)/step) * step
	yMax := math.Ceil(float64(hi)/step) * step
	y := func(v float64) float64 { return top + plotH - (v-yMin)/(yMax-yMin)*plotH }
	x := func(i int) float64 {
		if days <= 1 {
			return left + plotW/2
		}
		return left + float64(i)*plotW/float64(days-1)
	}
	// axes, grid and labels
	for v := yMin; v <= yMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y(v)+4, formatValue(v))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, top, left, top+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333"/>`+"\n", left, y(math.Max(yMin, 0)), left+plotW, y(math.Max(yMin, 0)))
	if len(r.Series) > 0 {
		every := max(1, (days+maxDayLabels-1)/maxDayLabels)
		for i, p := range r.Series[0].Points {
			if i%every == 0 || i == days-1 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(i), top+plotH+18, p.Day[5:])
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">day (UTC, %s to %s)</text>`+"\n", left+plotW/2, h-20, r.From, r.To)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+plotH/2, html.EscapeString(r.Unit))
	// one path per series, and its legend entry
	for i, s := range r.Series {
		color := palette[i%len(palette)]
		var d strings.Builder
		for j, p := range s.Points {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(j), y(float64(p.Value)))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"><title>%s</title></path>`+"\n",
			strings.TrimSpace(d.String()), color, html.EscapeString(s.Key))
		ly := top + i*legendHeight
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", left+plotW+16, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s (%s)</text>`+"\n", left+plotW+34, ly+10, html.EscapeString(shorten(s.Key, 18)), formatValue(float64(s.Total)))
	}
	if len(r.Series) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#666">no data in this range</text>`+"\n", left+plotW/2, top+plotH/2)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return math.Max(1, m*p)
		}
	}
	return 10 * p
}

func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
