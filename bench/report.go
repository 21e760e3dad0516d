package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Num is a float that encodes NaN (a figure that could not be measured) as
// JSON null.
type Num float64

func (n Num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(math.Round(float64(n)*1e4) / 1e4)
}

func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(n))
}

// Meta says when, on what and with what the figures were measured.
type Meta struct {
	Date      string  `json:"date"`
	Kernel    string  `json:"kernel"`
	GuestCPU  string  `json:"guestCPU"`
	HostCPU   string  `json:"hostCPU"`
	QEMU      string  `json:"qemu"`
	Accel     string  `json:"accel"`
	VCPUs     int     `json:"vcpus"`
	MemoryMB  int     `json:"memoryMB"`
	Go        string  `json:"go"`
	Revision  string  `json:"revision"`
	Quick     bool    `json:"quick"`
	TotalSec  float64 `json:"totalSec"`
	HostLoad1 string  `json:"hostLoadAtStart"`
}

// Ratio is one comparison: A of qinq (or of the encapsulation under test)
// over B of the reference, both measured in this run.
type Ratio struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	A      Num    `json:"a"`
	B      Num    `json:"b"`
	Unit   string `json:"unit"`
	Value  Num    `json:"ratio"`
	Target Num    `json:"target"` // NaN: informational
	Cmp    string `json:"cmp,omitempty"`
}

// Met reports whether the ratio meets its target; ok is false without one.
func (r Ratio) Met() (met, ok bool) {
	t, v := float64(r.Target), float64(r.Value)
	if math.IsNaN(t) || math.IsNaN(v) {
		return false, false
	}
	if r.Cmp == ">=" {
		return v >= t, true
	}
	return v <= t, true
}

// Report is the whole run: every item's figures, the ratios drawn from them,
// and the problems that make the run a failure.
type Report struct {
	Meta        Meta               `json:"meta"`
	Ratios      []Ratio            `json:"ratios"`
	Latency     []Latency          `json:"latency"`
	Startup     Startup            `json:"startup"`
	Scale       Scale              `json:"scale"`
	Concurrency []Concurrency      `json:"concurrency"`
	DataPath    []DataPath         `json:"dataPath"`
	Memory      Memory             `json:"memory"`
	Reserved    Reserved           `json:"reserved"`
	ItemSec     map[string]float64 `json:"itemSeconds"`
	Problems    []string           `json:"problems"`
}

func mkRatio(id, label string, a, b float64, unit string, target float64, cmp string) Ratio {
	return Ratio{ID: id, Label: label, A: Num(a), B: Num(b), Unit: unit, Value: Num(ratio(a, b)), Target: Num(target), Cmp: cmp}
}

// computeRatios derives every ratio from the measured rows. A row that is
// missing gives a NaN ratio, which check reports.
func (r *Report) computeRatios() {
	lat := map[string]Latency{}
	for _, l := range r.Latency {
		lat[l.Name] = l
	}
	none := math.NaN()
	q, v := lat["qinq"], lat["vlan"]
	mv := "ADD+DEL %s, qinq containerLink macvlan / macvlan"
	if made := lat["qinq-macvlan"].Made; made != "" && made != "macvlan" {
		mv += " (made " + made + ": key ignored)"
	}
	// The first pod of a chain pays the kernel for the links its reference
	// does not make: its target is the reference plus those links made and
	// deleted by hand (the links-* rows), p50 with p50, p99 with p99.
	first := func(id, label, a, ref, hand string) []Ratio {
		var out []Ratio
		for _, pc := range []string{"p50", "p99"} {
			pick := func(s Summary) float64 {
				if pc == "p50" {
					return s.P50
				}
				return s.P99
			}
			out = append(out, mkRatio(id+"."+pc, fmt.Sprintf("ADD+DEL %s, %s / (%s + %s)", pc, label, ref, hand),
				pick(lat[a].Pair), pick(lat[ref].Pair)+pick(lat[hand].Pair), "ms", 1, "<="))
		}
		return out
	}
	r.Ratios = []Ratio{
		mkRatio("latency.pair.p50", "ADD+DEL p50, qinq [10] / vlan", q.Pair.P50, v.Pair.P50, "ms", none, ""),
		mkRatio("latency.pair.p90", "ADD+DEL p90, qinq [10] / vlan", q.Pair.P90, v.Pair.P90, "ms", none, ""),
		mkRatio("latency.pair.p99", "ADD+DEL p99, qinq [10] / vlan", q.Pair.P99, v.Pair.P99, "ms", none, ""),
		mkRatio("latency.add.p50", "ADD p50, qinq [10] / vlan", q.Add.P50, v.Add.P50, "ms", none, ""),
		mkRatio("latency.del.p50", "DEL p50, qinq [10] / vlan", q.Del.P50, v.Del.P50, "ms", none, ""),
		mkRatio("latency.qinqinq.p50", "ADD+DEL p50, QinQinQ [50,10] / vlan", lat["qinqinq"].Pair.P50, v.Pair.P50, "ms", none, ""),
		mkRatio("latency.shared.p50", "ADD+DEL p50, qinq, S-link kept by another / vlan", lat["qinq-shared"].Pair.P50, v.Pair.P50, "ms", 1, "<="),
		mkRatio("latency.shared.p99", "ADD+DEL p99, qinq, S-link kept by another / vlan", lat["qinq-shared"].Pair.P99, v.Pair.P99, "ms", 1, "<="),
		mkRatio("latency.macvlan.p50", fmt.Sprintf(mv, "p50"), lat["qinq-macvlan"].Pair.P50, lat["macvlan"].Pair.P50, "ms", none, ""),
		mkRatio("latency.macvlan.p99", fmt.Sprintf(mv, "p99"), lat["qinq-macvlan"].Pair.P99, lat["macvlan"].Pair.P99, "ms", none, ""),
		mkRatio("latency.macvlan-shared.p50", "ADD+DEL p50, qinq macvlan, chain kept by another pod / macvlan",
			lat["qinq-macvlan-shared"].Pair.P50, lat["macvlan"].Pair.P50, "ms", 1, "<="),
		mkRatio("latency.macvlan-shared.p99", "ADD+DEL p99, qinq macvlan, chain kept by another pod / macvlan",
			lat["qinq-macvlan-shared"].Pair.P99, lat["macvlan"].Pair.P99, "ms", 1, "<="),
		// The reference bridge plugin keeps its bridge between pods: the fair
		// pair is qinq with its chain and bridge kept by another pod.
		mkRatio("latency.bridge-shared.p50", "ADD+DEL p50, qinq bridge, chain and bridge kept by another pod / bridge vlan",
			lat["qinq-bridge-shared"].Pair.P50, lat["bridge"].Pair.P50, "ms", 1, "<="),
		mkRatio("latency.bridge-shared.p99", "ADD+DEL p99, qinq bridge, chain and bridge kept by another pod / bridge vlan",
			lat["qinq-bridge-shared"].Pair.P99, lat["bridge"].Pair.P99, "ms", 1, "<="),
		mkRatio("latency.bridge.p50", "ADD+DEL p50, qinq bridge, chain and bridge made and deleted / bridge vlan",
			lat["qinq-bridge"].Pair.P50, lat["bridge"].Pair.P50, "ms", none, ""),
	}
	r.Ratios = append(r.Ratios, first("latency.first.vlan", "qinq [10], S-link made", "qinq", "vlan", chainByHand[1])...)
	r.Ratios = append(r.Ratios, first("latency.first.macvlan", "qinq macvlan, chain made", "qinq-macvlan", "macvlan", chainByHand[2])...)
	r.Ratios = append(r.Ratios, first("latency.first.bridge", "qinq bridge, chain and bridge made", "qinq-bridge", "bridge", chainByHand[3])...)
	s := r.Startup
	r.Ratios = append(r.Ratios,
		mkRatio("startup.version.p50", "VERSION exec p50, qinq / vlan", s.QinqVersion.P50, s.VlanVersion.P50, "ms", 1, "<="),
		mkRatio("startup.version.mean", "VERSION exec mean, qinq / vlan", s.QinqVersion.Mean, s.VlanVersion.Mean, "ms", none, ""),
		mkRatio("startup.size", "binary size, qinq / vlan", float64(s.QinqBytes)/1e6, float64(s.VlanBytes)/1e6, "MB", none, ""),
	)
	r.Ratios = append(r.Ratios, r.scaleRatios()...)
	r.Ratios = append(r.Ratios, r.concurrencyRatios()...)
	r.Ratios = append(r.Ratios, r.dataPathRatios()...)
	m := r.Memory
	r.Ratios = append(r.Ratios,
		mkRatio("memory.add", "peak RSS of one ADD, qinq / vlan", m.QinqKB.P50/1024, m.VlanKB.P50/1024, "MiB", none, ""))
	r.Ratios = append(r.Ratios, r.reservedRatios(lat)...)
}

// growth is p50 at the last level over p50 at the first, per plugin.
func growth(levels []ScaleLevel, plugin string, del bool) (first, last ScaleLevel, g float64) {
	var mine []ScaleLevel
	for _, l := range levels {
		if l.Plugin == plugin {
			mine = append(mine, l)
		}
	}
	if len(mine) < 2 {
		return first, last, math.NaN()
	}
	first, last = mine[0], mine[len(mine)-1]
	if del {
		return first, last, ratio(last.Del.P50, first.Del.P50)
	}
	return first, last, ratio(last.Add.P50, first.Add.P50)
}

func (r *Report) scaleRatios() []Ratio {
	var out []Ratio
	for _, row := range []struct {
		id, what, ref string
		levels        []ScaleLevel
	}{
		{"scale.attach", "attachments on one S-link", "vlan", r.Scale.Attachments},
		{"scale.slinks", "S-links on one master", "vlan", r.Scale.SLinks},
		{"scale.bridge", "pods on one bridge", "bridge", r.Scale.BridgePods},
	} {
		for _, verb := range []string{"ADD", "DEL"} {
			first, last, gq := growth(row.levels, "qinq", verb == "DEL")
			_, _, gv := growth(row.levels, row.ref, verb == "DEL")
			label := fmt.Sprintf("%s growth %d→%d %s, qinq ÷ %s", verb, first.Count, last.Count, row.what, row.ref)
			out = append(out, mkRatio(row.id+"."+verb, label, gq, gv, "×", 1.05, "<="))
		}
	}
	return out
}

func (r *Report) concurrencyRatios() []Ratio {
	by := map[string]Concurrency{}
	for _, c := range r.Concurrency {
		by[c.Plugin] = c
	}
	none := math.NaN()
	var out []Ratio
	for _, row := range []struct{ id, a, b, what string }{
		{"concurrency", "qinq", "vlan", "qinq / vlan, the S-link made by the first"},
		{"concurrency.kept", "qinq-kept", "vlan", "qinq / vlan, the S-link kept by another pod"},
		{"concurrency.bridge", "qinq-bridge", "bridge", "qinq bridge / bridge, chain and bridge made by the first"},
		{"concurrency.bridge-kept", "qinq-bridge-kept", "bridge-kept", "qinq bridge / bridge, chain and bridge kept"},
	} {
		a, b := by[row.a], by[row.b]
		if a.N == 0 || b.N == 0 { // a burst that did not run is no figure
			a.AddWallMs, a.DelWallMs = none, none
		}
		out = append(out,
			mkRatio(row.id+".add", fmt.Sprintf("%d parallel ADDs, wall, %s", a.N, row.what), a.AddWallMs, b.AddWallMs, "ms", 1, "<="),
			mkRatio(row.id+".del", fmt.Sprintf("%d parallel DELs, wall, %s", a.N, row.what), a.DelWallMs, b.DelWallMs, "ms", none, ""))
	}
	return out
}

// dataPathRatios: throughput under TCG on a shared host swings between
// rounds far more than between encapsulations, so each ratio is the median
// of the per-round ratios (the two figures of a round were measured minutes
// apart at most); A and B are the medians of the runs.
func (r *Report) dataPathRatios() []Ratio {
	by := map[string]DataPath{}
	for _, d := range r.DataPath {
		by[d.Mode] = d
	}
	var out []Ratio
	none := math.NaN()
	for _, c := range []struct {
		a, b, label string
		target      float64 // at least; NaN: none
	}{
		{"qinq", "single", "QinQ / single tag", 0.95}, {"single", "untagged", "single tag / untagged", none},
		{"qinq", "untagged", "QinQ / untagged", none}, {"qinq-bridge", "bridge", "qinq bridge / bridge vlan 10", 0.95},
	} {
		a, b := by[c.a], by[c.b]
		cmp := ""
		if !math.IsNaN(c.target) {
			cmp = ">="
		}
		for _, proto := range []string{"TCP", "UDP"} {
			ra, rb := a.TCP, b.TCP
			if proto == "UDP" {
				ra, rb = a.UDP, b.UDP
			}
			x := mkRatio(fmt.Sprintf("datapath.%s.%s-%s", strings.ToLower(proto), c.a, c.b),
				fmt.Sprintf("iperf3 %s, %s (median of rounds)", proto, c.label), median(ra), median(rb), "Mbit/s", c.target, cmp)
			x.Value = Num(pairedRatio(ra, rb))
			out = append(out, x)
		}
	}
	return out
}

// pairedRatio is the median of a[i]/b[i].
func pairedRatio(a, b []float64) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return math.NaN()
	}
	rs := make([]float64, len(a))
	for i := range a {
		rs[i] = ratio(a[i], b[i])
	}
	return median(rs)
}

// check lists the ratios that could not be computed: a row is missing.
// (Plugin errors and leftovers are recorded as problems where they happen.)
func (r *Report) check() []string {
	var out []string
	for _, x := range r.Ratios {
		if math.IsNaN(float64(x.Value)) {
			out = append(out, "ratio missing: "+x.Label)
		}
	}
	return out
}
