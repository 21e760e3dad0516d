// Command qinq-bench is `make bench`: it measures qinq against the reference
// plugins v1.9.1 inside the project's VM and reports ratios measured in the
// same run (absolute times on shared TCG machines drift).
//
//	qinq-bench run [-quick]        in the VM: measure, print the report (JSON) on stdout
//	qinq-bench render -in report.json -dir docs/bench
//	                               on the host: print the tables, write latest.json and latest.svg
//
// run exits 1 when the bench itself is broken (a plugin error, a leftover, a
// row missing), after printing what it measured; render exits 1 on the same
// report. Neither asserts anything about time.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// params are the counts of one run: full or quick.
type params struct {
	latencyRounds, latencyBlock int
	versionRuns                 int
	sLinks                      int
	attachLevels                []int
	scaleRounds, scaleBlock     int
	concurrent                  int
	iperfRounds, iperfSeconds   int
	memoryRuns                  int
}

// Blocks are small (5 pairs, rotating order, 20 rounds): the shared host's
// load changes within minutes, and two runs with blocks of 20 put the same
// ADD+DEL ratio at 0.96 and 1.13.
var full = params{
	latencyRounds: 20, latencyBlock: 5,
	versionRuns: 100,
	sLinks:      100, attachLevels: []int{10, 100, 1000}, scaleRounds: 5, scaleBlock: 4,
	concurrent:  100,
	iperfRounds: 16, iperfSeconds: 2,
	memoryRuns: 10,
}

// quick proves every item still runs; its figures mean nothing.
var quick = params{
	latencyRounds: 1, latencyBlock: 1,
	versionRuns: 2,
	sLinks:      2, attachLevels: []int{1, 2, 3}, scaleRounds: 1, scaleBlock: 1,
	concurrent:  4,
	iperfRounds: 1, iperfSeconds: 1,
	memoryRuns: 1,
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "render":
		err = renderCmd(os.Args[2:])
	case "profile":
		err = profileCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "qinq-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: qinq-bench run [-quick] [-bin dir] [-only items] | render -in report.json -dir outdir | profile [-bin dir] [-small n] [-large n]")
	os.Exit(2)
}

func runCmd(argv []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	q := fs.Bool("quick", os.Getenv("QINQ_BENCH_QUICK") == "1", "tiny counts: prove the bench works")
	bin := fs.String("bin", "bin", "directory with qinq, host-local, static and ref/{vlan,macvlan,bridge}")
	only := fs.String("only", os.Getenv("QINQ_BENCH_ONLY"), "comma-separated items to run (for working on one; the report then misses the others)")
	_ = fs.Parse(argv)
	if err := inVM(); err != nil {
		return err
	}
	p := full
	if *q {
		p = quick
	}
	if err := loadModules(); err != nil {
		return err
	}
	r, err := measure(newEnv(*bin), p, *q, *only)
	if r != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		if jerr := enc.Encode(r); jerr != nil {
			return jerr
		}
	}
	if problems := append(r.Problems, r.check()...); err == nil && len(problems) > 0 {
		err = fmt.Errorf("%d problems, first: %s", len(problems), problems[0])
	}
	return err
}

func newEnv(bin string) *Env {
	return &Env{
		Qinq: bin + "/qinq", Vlan: bin + "/ref/vlan", Macvlan: bin + "/ref/macvlan", Bridge: bin + "/ref/bridge",
		CNIPath: bin, StateDir: "/run/qinq",
	}
}

// measure runs the items in turn; an item that cannot even set up stops the
// run, with what was measured so far.
func measure(e *Env, p params, isQuick bool, only string) (*Report, error) {
	start := time.Now()
	r := &Report{Meta: meta(isQuick), ItemSec: map[string]float64{}}
	items := []struct {
		name string
		run  func() error
	}{
		{"latency", func() (err error) { r.Latency, err = runLatency(e, p); return }},
		{"startup", func() (err error) { r.Startup, err = runStartup(e, p); return }},
		{"memory", func() (err error) { r.Memory, err = runMemory(e, p); return }},
		{"concurrency", func() (err error) { r.Concurrency, err = runConcurrency(e, p); return }},
		{"datapath", func() (err error) { r.DataPath, err = runDataPath(e, p); return }},
		{"scale", func() (err error) { r.Scale, err = runScale(e, p); return }},
		{"reserved", func() (err error) { r.Reserved, err = runReserved(e, p); return }},
	}
	var err error
	for _, it := range items {
		if only != "" && !slices.Contains(strings.Split(only, ","), it.name) {
			continue
		}
		t := time.Now()
		logf("%s ...", it.name)
		if err = it.run(); err != nil {
			err = fmt.Errorf("%s: %w", it.name, err)
			break
		}
		r.ItemSec[it.name] = time.Since(t).Seconds()
		logf("%s done in %.0f s", it.name, r.ItemSec[it.name])
	}
	r.computeRatios()
	r.Meta.TotalSec = time.Since(start).Seconds()
	r.Problems = e.problems
	return r, err
}

// loadModules loads the container-link modules the VM's initramfs does not
// (macvlan for the reference macvlan plugin and "containerLink": "macvlan",
// ipvlan for "ipvlan") from the kernel tree scripts/vm/setup.sh unpacked,
// which the VM sees at its host path (QINQ_BENCH_KROOT).
func loadModules() error {
	kroot := os.Getenv("QINQ_BENCH_KROOT")
	if kroot == "" {
		return nil // on a host whose kernel has them
	}
	out, err := exec.Command("/usr/sbin/modprobe", "-a", "-d", kroot, "macvlan", "ipvlan").CombinedOutput()
	if err != nil {
		return fmt.Errorf("modprobe -d %s macvlan ipvlan: %v: %s", kroot, err, out)
	}
	return nil
}

func inVM() error {
	if os.Getenv("QINQ_IN_VM") != "1" && os.Getenv("QINQ_ON_HOST") != "1" {
		return fmt.Errorf("this changes the network of the machine it runs on: run it in the VM (scripts/vm/run), or set QINQ_ON_HOST=1")
	}
	return nil
}

func profileCmd(argv []string) error {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	bin := fs.String("bin", "bin", "directory with qinq, host-local, static and ref/{vlan,macvlan,bridge}")
	small := fs.Int("small", 10, "the small population")
	large := fs.Int("large", 300, "the large population")
	_ = fs.Parse(argv)
	if err := inVM(); err != nil {
		return err
	}
	e := newEnv(*bin)
	if err := profile(e, os.Stdout, *small, *large); err != nil {
		return err
	}
	if len(e.problems) > 0 {
		return fmt.Errorf("%d problems, first: %s", len(e.problems), e.problems[0])
	}
	return nil
}
