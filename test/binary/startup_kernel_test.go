//go:build kerneltest

package binary

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// thpFaults reads the kernel's count of transparent huge pages allocated on
// a page fault, for the whole VM.
func thpFaults(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "thp_fault_alloc "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("/proc/vmstat has no thp_fault_alloc: the kernel has no transparent huge pages")
	return 0
}

// A plugin process lives for one verb: with transparent huge pages on
// "always" it must not take any (the Makefile's PLUGIN_LDFLAGS). Control: a
// Go binary of the same toolchain built without them takes at least one per
// run, so the counter and the setting are live.
func TestStartup_ThePluginTakesNoTransparentHugePage(t *testing.T) {
	const knob = "/sys/kernel/mm/transparent_hugepage/enabled"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knob, []byte("always"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The file reads "[always] madvise never": the bracketed word is the setting.
		s := string(old)
		if i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); i >= 0 && j > i {
			_ = os.WriteFile(knob, []byte(s[i+1:j]), 0)
		}
	})
	const runs = 20
	execs := func(bin string, env ...string) int {
		before := thpFaults(t)
		for range runs {
			c := exec.Command(bin)
			c.Env = env
			_ = c.Run() // the control prints its usage and exits 2; only the faults count
		}
		return thpFaults(t) - before
	}
	control := execs(filepath.Join(env.Root, "bin", "qinq-admin"))
	if control < runs {
		t.Fatalf("control: %d runs of qinq-admin (no PLUGIN_LDFLAGS) took %d huge pages, want ≥ %d: the test cannot see them", runs, control, runs)
	}
	for _, bin := range []string{env.Plugin, filepath.Join(env.Root, "bin", "qinq-ovs")} {
		// Another process of the VM may take one meanwhile; a plugin without the
		// flags takes one or more per run.
		got := execs(bin, "CNI_COMMAND=VERSION")
		t.Logf("%d runs: %s took %d huge pages, the control %d", runs, bin, got, control)
		if got > 2 {
			t.Errorf("%d VERSION runs of %s took %d transparent huge pages (the control took %d), want none", runs, bin, got, control)
		}
	}
}
