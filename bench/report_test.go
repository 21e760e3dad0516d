package main

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestSummarizeNearestRank(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100..1, unsorted
	}
	s := summarize(xs)
	if s.N != 100 || s.P50 != 50 || s.P90 != 90 || s.P99 != 99 || s.Min != 1 || s.Max != 100 || s.Mean != 50.5 {
		t.Fatalf("summary of 1..100: %+v", s)
	}
	if one := summarize([]float64{7}); one.P50 != 7 || one.P99 != 7 {
		t.Fatalf("summary of one sample: %+v", one)
	}
	if empty := summarize(nil); empty.N != 0 {
		t.Fatalf("summary of nothing: %+v", empty)
	}
}

func TestNumEncodesNaNAsNull(t *testing.T) {
	b, err := json.Marshal([]Num{1.23456, Num(math.NaN())})
	if err != nil || string(b) != "[1.2346,null]" {
		t.Fatalf("got %s, %v", b, err)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil || back[0] != 1.2346 || !math.IsNaN(float64(back[1])) {
		t.Fatalf("round trip: %v, %v", back, err)
	}
}

// sample is a report with every row, qinq twice as slow as the references
// and growing 3× where vlan grows 1.5×.
func sample() *Report {
	lat := func(name string, p50 float64) Latency {
		s := Summary{N: 10, P50: p50, P90: p50 * 1.2, P99: p50 * 1.5}
		return Latency{Name: name, Add: s, Del: s, Pair: s}
	}
	level := func(plugin string, count int, p50 float64) ScaleLevel {
		return ScaleLevel{Plugin: plugin, Count: count, Add: Summary{P50: p50}, Del: Summary{P50: p50}}
	}
	r := &Report{
		Meta: Meta{Date: "2025-01-02T03:04:05Z", Kernel: "6.1.0-56-amd64", QEMU: "7.2.22"},
		Latency: []Latency{lat("qinq", 200), lat("vlan", 100), lat("qinqinq", 220), lat("qinq-shared", 150),
			lat("qinq-macvlan", 200), lat("qinq-macvlan-shared", 150), lat("macvlan", 100),
			lat("qinq-bridge", 200), lat("qinq-bridge-shared", 150), lat("bridge", 100),
			lat("links-s", 60), lat("links-sc", 100), lat("links-scb", 150)},
		Startup: Startup{QinqVersion: Summary{P50: 40, Mean: 40}, VlanVersion: Summary{P50: 20, Mean: 20}, QinqBytes: 17e6, VlanBytes: 7e6},
		Scale: Scale{
			Attachments: []ScaleLevel{level("qinq", 10, 100), level("vlan", 10, 100), level("qinq", 100, 150),
				level("vlan", 100, 120), level("qinq", 1000, 300), level("vlan", 1000, 150)},
			SLinks: []ScaleLevel{level("qinq", 0, 100), level("vlan", 0, 100), level("qinq", 100, 100), level("vlan", 100, 100)},
			BridgePods: []ScaleLevel{level("qinq", 10, 100), level("bridge", 10, 100), level("qinq", 1000, 120),
				level("bridge", 1000, 200)},
		},
		Concurrency: []Concurrency{{Plugin: "qinq", N: 100, AddWallMs: 10, DelWallMs: 10}, {Plugin: "vlan", N: 100, AddWallMs: 5, DelWallMs: 5},
			{Plugin: "qinq-kept", N: 100, AddWallMs: 4, DelWallMs: 5}, {Plugin: "qinq-bridge", N: 100, AddWallMs: 9, DelWallMs: 9},
			{Plugin: "qinq-bridge-kept", N: 100, AddWallMs: 6, DelWallMs: 6}, {Plugin: "bridge", N: 100, AddWallMs: 8, DelWallMs: 8},
			{Plugin: "bridge-kept", N: 100, AddWallMs: 6, DelWallMs: 6}},
		DataPath: []DataPath{{Mode: "qinq", TCP: []float64{90, 900}, UDP: []float64{9, 90}},
			{Mode: "single", TCP: []float64{100, 1000}, UDP: []float64{10, 100}},
			{Mode: "untagged", TCP: []float64{100, 1000}, UDP: []float64{10, 100}},
			{Mode: "qinq-bridge", TCP: []float64{96, 960}, UDP: []float64{9, 90}},
			{Mode: "bridge", TCP: []float64{100, 1000}, UDP: []float64{10, 100}}},
		Memory: Memory{QinqKB: Summary{P50: 16384}, VlanKB: Summary{P50: 8192}},
		Reserved: Reserved{FilterAddMs: []float64{2, 1, 3}, FilterReadMs: []float64{1}, PPSWith: []float64{90, 900}, PPSWithout: []float64{100, 1000},
			UserNSCheckMs: []float64{0.5}, HostLinkMs: []float64{1}},
	}
	r.computeRatios()
	return r
}

func byID(t *testing.T, r *Report, id string) Ratio {
	for _, x := range r.Ratios {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("no ratio %s", id)
	return Ratio{}
}

func TestRatios(t *testing.T) {
	r := sample()
	if p := r.check(); len(p) != 0 {
		t.Fatalf("complete report: %v", p)
	}
	for id, want := range map[string]float64{
		"latency.pair.p50": 2, "startup.version.p50": 2, "memory.add": 2,
		"scale.attach.ADD": 2, "scale.slinks.DEL": 1, "datapath.tcp.qinq-single": 0.9,
		"scale.bridge.ADD": 0.6, "scale.bridge.DEL": 0.6, "datapath.tcp.qinq-bridge-bridge": 0.96, "datapath.udp.qinq-bridge-bridge": 0.9,
		"reserved.add": 0.01, "reserved.read": 0.005, "reserved.pps": 0.9, "isolation.userns": 0.0025, "isolation.hostlink": 0.005,
		"latency.first.vlan.p50": 200.0 / 160, "latency.first.macvlan.p99": 1, "latency.first.bridge.p50": 0.8,
		"concurrency.add": 2, "concurrency.kept.add": 0.8, "concurrency.bridge.add": 9.0 / 8, "concurrency.bridge-kept.del": 1,
	} {
		if got := float64(byID(t, r, id).Value); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", id, got, want)
		}
	}
	if met, ok := byID(t, r, "latency.first.vlan.p50").Met(); met || !ok {
		t.Errorf("1.25 against <= 1.0: met %v ok %v", met, ok)
	}
	if met, ok := byID(t, r, "latency.first.macvlan.p50").Met(); !met || !ok {
		t.Errorf("1.0 against <= 1.0: met %v ok %v", met, ok)
	}
	if met, ok := byID(t, r, "scale.slinks.ADD").Met(); !met || !ok {
		t.Errorf("1.0 against <= 1.05: met %v ok %v", met, ok)
	}
	if met, ok := byID(t, r, "scale.bridge.ADD").Met(); !met || !ok {
		t.Errorf("0.6 against <= 1.05: met %v ok %v", met, ok)
	}
	if met, ok := byID(t, r, "datapath.udp.qinq-bridge-bridge").Met(); met || !ok {
		t.Errorf("0.9 against >= 0.95: met %v ok %v", met, ok)
	}
	if _, ok := byID(t, r, "latency.qinqinq.p50").Met(); ok {
		t.Error("an informational ratio has a target")
	}
}

func TestMissingRowIsAProblem(t *testing.T) {
	r := sample()
	r.DataPath = r.DataPath[1:4] // no qinq row, no reference bridge row
	r.Latency = r.Latency[:5]    // no reference macvlan row
	r.Scale.BridgePods = r.Scale.BridgePods[:2]
	r.Concurrency = r.Concurrency[:2] // no kept burst: none is "met" with a 0
	r.computeRatios()
	p := strings.Join(r.check(), "\n")
	for _, want := range []string{"QinQ / single tag", "qinq containerLink macvlan / macvlan", "qinq bridge / bridge vlan 10",
		"ADD growth 0→0 pods on one bridge", "parallel ADDs, wall, qinq / vlan, the S-link kept by another pod"} {
		if !strings.Contains(p, want) {
			t.Errorf("check does not report the missing %q: %s", want, p)
		}
	}
}

func TestPlotIsWellFormedSVG(t *testing.T) {
	r := sample()
	r.Ratios[0].Value = Num(math.NaN()) // a missing bar is drawn as such
	out := plot(r)
	d := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{"2025-01-02T03:04:05Z", "6.1.0-56-amd64", "QEMU 7.2.22", "VERSION exec p50", "missing", "qinq ADD",
		"vlan DEL", "bridge ADD", "p50 with N pods on one bridge"} {
		if !strings.Contains(out, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
}
