package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Plot geometry: ratio bars on the left, growth lines on the right.
const (
	svgW, barLabelW, barW, rowH, top = 1160, 390, 360, 22, 78
	lineX, lineW, lineH              = 860, 260, 220
)

type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format+"\n", args...) }

func (s *svg) text(x, y float64, size int, anchor, fill, t string) {
	s.f(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s">%s</text>`, x, y, size, anchor, fill, html.EscapeString(t))
}

// growthPanel is one growth plot: qinq's and ref's levels of a scale row.
type growthPanel struct {
	title, xLabel, ref string
	levels             []ScaleLevel
}

// panelH is the height of a growth panel with its title and legend.
const panelH = lineH + 150

// plot draws the report as an SVG: every ratio as a bar against 1.0 and its
// target, and how ADD and DEL grow with the attachments on one S-link and
// with the pods on one bridge.
func plot(r *Report) string {
	var s svg
	panels := []growthPanel{
		{"p50 with N attachments on one S-link", "N already there (vlan: on its master)", "vlan", r.Scale.Attachments},
		{"p50 with N pods on one bridge", "N already there (bridge: on its bridge)", "bridge", r.Scale.BridgePods},
	}
	h := top + rowH*len(r.Ratios) + 60
	h = max(h, top+panelH*len(panels))
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`, svgW, h, svgW, h)
	s.f(`<rect width="100%%" height="100%%" fill="white"/>`)
	m := r.Meta
	title := "qinq vs the reference CNI plugins v1.9.1: ratios measured in one run"
	if m.Quick {
		title += " (QUICK MODE: figures mean nothing)"
	}
	s.text(10, 22, 16, "start", "black", title)
	s.text(10, 42, 11, "start", "#333", fmt.Sprintf("%s · rev %s · kernel %s · %d vCPUs, %s (%s) · QEMU %s",
		m.Date, m.Revision, m.Kernel, m.VCPUs, m.Accel, m.GuestCPU, m.QEMU))
	s.text(10, 58, 11, "start", "#333", fmt.Sprintf("host CPU %s · %s · bars: green meets its target (tick), red misses it, grey has none", m.HostCPU, m.Go))
	s.bars(r.Ratios)
	for i, g := range panels {
		s.growth(g, float64(top+panelH*i))
	}
	s.f(`</svg>`)
	return s.b.String()
}

func barColor(x Ratio) string {
	met, ok := x.Met()
	switch {
	case !ok:
		return "#9e9e9e"
	case met:
		return "#2e7d32"
	default:
		return "#c62828"
	}
}

func (s *svg) bars(rs []Ratio) {
	scaleMax := 2.0
	for _, x := range rs {
		if v := float64(x.Value); !math.IsNaN(v) {
			scaleMax = max(scaleMax, math.Min(math.Ceil(v*2)/2, 4))
		}
	}
	px := func(v float64) float64 { return barLabelW + math.Min(v, scaleMax)/scaleMax*barW }
	bottom := float64(top + rowH*len(rs))
	for v := 0.0; v <= scaleMax+1e-9; v += 0.5 {
		stroke, dash := "#ddd", ""
		if v == 1 {
			stroke, dash = "#555", ` stroke-dasharray="4 3"`
		}
		s.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="%s"%s/>`, px(v), top-6, px(v), bottom, stroke, dash)
		s.text(px(v), bottom+14, 10, "middle", "#555", fmt.Sprintf("%.1f", v))
	}
	for i, x := range rs {
		y := float64(top + rowH*i)
		s.text(barLabelW-6, y+12, 11, "end", "black", x.Label)
		v := float64(x.Value)
		if math.IsNaN(v) {
			s.text(barLabelW+4, y+12, 11, "start", "#c62828", "missing")
			continue
		}
		s.f(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"/>`, barLabelW, y+2, px(v)-barLabelW, rowH-6, barColor(x))
		if t := float64(x.Target); !math.IsNaN(t) {
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"/>`, px(t), y, px(t), y+rowH-2)
		}
		label := fmt.Sprintf("%.2f", v)
		if v > scaleMax {
			label = "▶ " + label
		}
		s.text(px(v)+4, y+13, 11, "start", "black", label)
	}
}

// growth draws p50 at each level over p50 at the first level, log x, with
// its top at y.
func (s *svg) growth(g growthPanel, y float64) {
	x0, y0 := float64(lineX), y+lineH
	s.text(x0-30, y-22, 12, "start", "black", g.title)
	s.text(x0-30, y-8, 11, "start", "#333", "÷ p50 at the first N (log N)")
	series := map[string][][2]float64{}
	var names []string
	lo, hi, ymax := math.Inf(1), math.Inf(-1), 2.0
	for _, verb := range []string{"ADD", "DEL"} {
		for _, plugin := range []string{"qinq", g.ref} {
			name := plugin + " " + verb
			var base float64
			for _, l := range g.levels {
				if l.Plugin != plugin || l.Count <= 0 {
					continue
				}
				v := l.Add.P50
				if verb == "DEL" {
					v = l.Del.P50
				}
				if base == 0 {
					base = v
				}
				g := ratio(v, base)
				series[name] = append(series[name], [2]float64{math.Log10(float64(l.Count)), g})
				lo, hi, ymax = math.Min(lo, math.Log10(float64(l.Count))), math.Max(hi, math.Log10(float64(l.Count))), math.Max(ymax, math.Ceil(g))
			}
			names = append(names, name)
		}
	}
	if math.IsInf(lo, 0) || hi <= lo {
		s.text(x0, y0-lineH/2, 11, "start", "#c62828", "no scale levels")
		return
	}
	px := func(p [2]float64) (float64, float64) {
		return x0 + (p[0]-lo)/(hi-lo)*lineW, y0 - p[1]/ymax*lineH
	}
	s.axes(x0, y0, lo, hi, ymax, g.xLabel)
	for i, name := range names {
		color := "#ef6c00"
		if strings.HasPrefix(name, "qinq ") {
			color = "#1565c0"
		}
		var pts []string
		for _, p := range series[name] {
			if math.IsNaN(p[1]) {
				continue
			}
			x, y := px(p)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		dash := ""
		if strings.HasSuffix(name, "DEL") {
			dash = ` stroke-dasharray="5 3"`
		}
		s.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), color, dash)
		ly := y0 + 40 + float64(i*14)
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, x0, ly-4, x0+24, ly-4, color, dash)
		s.text(x0+30, ly, 11, "start", "black", name)
	}
}

func (s *svg) axes(x0, y0, lo, hi, ymax float64, xLabel string) {
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`, x0, y0, x0+lineW, y0)
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`, x0, y0, x0, y0-lineH)
	for d := math.Ceil(lo); d <= hi+1e-9; d++ {
		x := x0 + (d-lo)/(hi-lo)*lineW
		s.text(x, y0+14, 10, "middle", "#555", fmt.Sprintf("%.0f", math.Pow(10, d)))
	}
	for g := 0.0; g <= ymax+1e-9; g++ {
		y := y0 - g/ymax*lineH
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x0, y, x0+lineW, y)
		s.text(x0-4, y+4, 10, "end", "#555", fmt.Sprintf("%.0f×", g))
	}
	s.text(x0+lineW/2, y0+28, 10, "middle", "#555", xLabel)
}
