package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

func renderCmd(argv []string) error {
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	in := fs.String("in", "", "report JSON written by run")
	dir := fs.String("dir", "docs/bench", "where latest.json and latest.svg go")
	_ = fs.Parse(argv)
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	printTables(os.Stdout, &r)
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	pretty, _ := json.MarshalIndent(&r, "", " ")
	if err := os.WriteFile(filepath.Join(*dir, "latest.json"), append(pretty, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "latest.svg"), []byte(plot(&r)), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(*dir, "latest.json"), filepath.Join(*dir, "latest.svg"))
	if problems := append(r.Problems, r.check()...); len(problems) > 0 {
		return fmt.Errorf("the bench is broken: %s", strings.Join(problems, "; "))
	}
	return nil
}

func f1(x Num) string {
	if math.IsNaN(float64(x)) {
		return "—"
	}
	switch v := float64(x); {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func target(r Ratio) string {
	if math.IsNaN(float64(r.Target)) {
		return ""
	}
	met, _ := r.Met()
	mark := "**missed**"
	if met {
		mark = "met"
	}
	return fmt.Sprintf("%s %s (%s)", r.Cmp, f1(r.Target), mark)
}

func printTables(w io.Writer, r *Report) {
	m := r.Meta
	fmt.Fprintf(w, "qinq bench %s, rev %s, %s: kernel %s, %d vCPUs (%s, %s), QEMU %s, host CPU %s, %s; %.0f s\n\n",
		mode(m.Quick), m.Revision, m.Date, m.Kernel, m.VCPUs, m.Accel, m.GuestCPU, m.QEMU, m.HostCPU, m.Go, m.TotalSec)
	fmt.Fprintln(w, "| measure | qinq | reference | unit | ratio | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, x := range r.Ratios {
		fmt.Fprintf(w, "| %s | %s | %s | %s | **%s** | %s |\n", x.Label, f1(x.A), f1(x.B), x.Unit, f1(x.Value), target(x))
	}
	fmt.Fprintln(w, "\n| ADD+DEL variant | link made | n | ADD p50/p90/p99 ms | DEL p50/p90/p99 ms | pair p50/p90/p99 ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, l := range r.Latency {
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s |\n", l.Desc, l.Made, l.Pair.N, pct(l.Add), pct(l.Del), pct(l.Pair))
	}
	s := r.Startup
	fmt.Fprintf(w, "\nVERSION exec (n=%d each): qinq %s ms, vlan %s ms (p50/p90/p99); binaries %.1f MB and %.1f MB\n",
		s.QinqVersion.N, pct(s.QinqVersion), pct(s.VlanVersion), float64(s.QinqBytes)/1e6, float64(s.VlanBytes)/1e6)
	printScale(w, r)
	fmt.Fprintln(w, "\n| concurrency | n | ADD wall ms | DEL wall ms | failures | leftovers |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, c := range r.Concurrency {
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %d | %d |\n", c.Plugin, c.N, c.AddWallMs, c.DelWallMs, c.AddFailures+c.DelFailures, c.Leftovers)
	}
	fmt.Fprintln(w, "\n| data path | container MTU | TCP Mbit/s (median; runs) | UDP Mbit/s received (median; runs) |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, d := range r.DataPath {
		fmt.Fprintf(w, "| %s | %d | %s; %s | %s; %s |\n", d.Desc, d.MTU, f1(d.TCPMd), runs(d.TCP), f1(d.UDPMd), runs(d.UDP))
	}
	mm := r.Memory
	fmt.Fprintf(w, "\npeak RSS of one ADD (p50 of %d, KiB): qinq %.0f, vlan %.0f, qinq without IPAM %.0f, static IPAM alone %.0f\n",
		mm.QinqKB.N, mm.QinqKB.P50, mm.VlanKB.P50, mm.QinqNoIPAMKB.P50, mm.StaticKB.P50)
	fmt.Fprintf(w, "\nseconds per item: %v\n", r.ItemSec)
	for _, p := range append(r.Problems, r.check()...) {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
}

func printScale(w io.Writer, r *Report) {
	fmt.Fprintln(w, "\n| scale | plugin | already there | n | ADD p50/p90 ms | DEL p50/p90 ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, row := range []struct {
		what   string
		levels []ScaleLevel
	}{{"S-links on the master", r.Scale.SLinks}, {"attachments on the S-link / master", r.Scale.Attachments},
		{"pods on one bridge", r.Scale.BridgePods}} {
		for _, l := range row.levels {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %.0f / %.0f | %.0f / %.0f |\n", row.what, l.Plugin, l.Count, l.Add.N,
				l.Add.P50, l.Add.P90, l.Del.P50, l.Del.P90)
		}
	}
	fmt.Fprintf(w, "populating took %.0f s, tearing down qinq's populations %.0f s\n", r.Scale.PopulateSec, r.Scale.TeardownSec)
}

func pct(s Summary) string { return fmt.Sprintf("%.0f / %.0f / %.0f", s.P50, s.P90, s.P99) }

func runs(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, " ")
}

func mode(q bool) string {
	if q {
		return "QUICK (figures mean nothing)"
	}
	return "full"
}
