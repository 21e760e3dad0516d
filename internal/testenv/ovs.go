package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// Open vSwitch for the tests: Debian's ovsdb-server and ovs-vswitchd
// (scripts/ovs/setup.sh installs them on the host; the VM sees them through
// its read-only share), started once per test process inside the VM, in the
// VM's own /run, with other_config:vlan-limit=2 set before ovs-vswitchd
// starts. They never start outside the VM.

// OVSRun is where the daemons keep their database, socket and logs: the
// VM-local tmpfs (/var/run/openvswitch is the same place), so the plugin's
// default ovsdbSocket reaches them.
const OVSRun = "/run/openvswitch"

// ovsd is Open vSwitch in this process: started at most once.
var ovsd struct {
	once   sync.Once
	err    error
	rootNS ns.NetNS // the VM's root namespace, where ovs-vswitchd runs
}

var bridgeSeq atomic.Int64 // bridge names are unique in the VM

// OVS is Open vSwitch as one test uses it.
type OVS struct {
	t testing.TB
	// Host is the VM's root namespace as a node: OVS ports must be links of
	// ovs-vswitchd's own namespace, so an OVS-mode plugin runs here.
	Host *Node
}

// StartOVS starts Open vSwitch on first use and fails the test loudly if it
// cannot: OVS tests never skip. On failure, the daemons' logs are shown.
func (e *Env) StartOVS(t testing.TB) *OVS {
	t.Helper()
	ovsd.once.Do(func() { ovsd.err = startOVS() })
	if ovsd.err != nil {
		t.Fatalf("Open vSwitch did not start in the VM: %v\n%s", ovsd.err, OVSLogs())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Open vSwitch logs:\n%s", OVSLogs())
		}
	})
	return &OVS{t: t, Host: &Node{t: t, env: e, NS: ovsd.rootNS}}
}

func startOVS() error {
	if os.Getenv("QINQ_IN_VM") != "1" {
		return fmt.Errorf("the OVS tests start ovsdb-server and ovs-vswitchd, which must never run on the host: run them inside the VM (scripts/test-kernel.sh without QINQ_ON_HOST)")
	}
	var err error
	if ovsd.rootNS, err = ns.GetNS("/proc/1/ns/net"); err != nil {
		return err
	}
	for _, bin := range []string{"/usr/sbin/ovsdb-server", "/usr/sbin/ovs-vswitchd", "/usr/bin/ovs-vsctl", "/usr/bin/ovsdb-tool"} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s missing: run scripts/ovs/setup.sh on the host (installs openvswitch-switch)", bin)
		}
	}
	if err := startOVSDB(); err != nil {
		return err
	}
	if _, err := vsctl("--no-wait", "init", "--", "set", "Open_vSwitch", ".", "other_config:vlan-limit=2"); err != nil {
		return err
	}
	waitForUptime(11 * time.Second)
	if err := daemon("/usr/sbin/ovs-vswitchd", "unix:"+OVSRun+"/db.sock", "--pidfile", "--log-file="+OVSRun+"/ovs-vswitchd.log"); err != nil {
		return err
	}
	// ovs-vsctl without --no-wait returns once ovs-vswitchd has applied it.
	_, err = vsctl("--timeout=60", "set", "Open_vSwitch", ".", "external_ids:qinq-test=ready")
	return err
}

func startOVSDB() error {
	if err := os.MkdirAll(OVSRun, 0o755); err != nil {
		return err
	}
	db := filepath.Join(OVSRun, "conf.db")
	if out, err := exec.Command("/usr/bin/ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		return fmt.Errorf("ovsdb-tool create: %v: %s", err, out)
	}
	err := daemon("/usr/sbin/ovsdb-server", db, "--remote=punix:"+OVSRun+"/db.sock", "--pidfile", "--log-file="+OVSRun+"/ovsdb-server.log")
	if err != nil {
		return err
	}
	for range 200 {
		if _, err := os.Stat(OVSRun + "/db.sock"); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("ovsdb-server did not create %s/db.sock", OVSRun)
}

// waitForUptime works around Debian's OVS 3.1.0: count_cpu_cores() refreshes
// its cached CPU count only when 10 s of CLOCK_MONOTONIC have passed since
// "time 0", so in a machine booted less than 10 s ago it reports 0 CPUs, the
// kernel datapath (per-CPU upcall dispatch) gets 0 handler threads, and every
// upcall, so every first packet of a flow, is lost. Fixed upstream by "ovs-
// thread: Fix cpus not read for the first 10s."
func waitForUptime(least time.Duration) {
	for {
		up, err := uptime()
		if err != nil || up >= least {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uptime is CLOCK_BOOTTIME, which equals CLOCK_MONOTONIC in a VM that never slept.
func uptime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	secs, err := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return time.Duration(secs * float64(time.Second)), err
}

// daemon starts a long-running OVS process in the VM's root network
// namespace. Its parent death signal stops it when the test binary exits;
// the starting OS thread stays locked for the life of the process, because
// PR_SET_PDEATHSIG fires when the creating thread exits, not the process.
func daemon(bin string, args ...string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := ovsd.rootNS.Set(); err != nil {
			errc <- err
			return
		}
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		errc <- cmd.Start()
		_ = cmd.Wait()
		select {} // keep this thread alive
	}()
	return <-errc
}

// OVSLogs is the tail of each daemon's log.
func OVSLogs() string {
	var b strings.Builder
	for _, f := range []string{"ovsdb-server.log", "ovs-vswitchd.log"} {
		data, _ := os.ReadFile(filepath.Join(OVSRun, f))
		lines := strings.Split(string(data), "\n")
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", f, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

// vsctl returns ovs-vsctl's stdout only: on a slow machine it warns on
// stderr ("Unreasonably long 1356ms poll interval"), which is no answer.
func vsctl(args ...string) (string, error) {
	cmd := exec.Command("/usr/bin/ovs-vsctl", append([]string{"--timeout=20"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ovs-vsctl %s: %v: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// For is the same Open vSwitch used by another test (a subtest): failures
// are reported there, and its bridges and uplinks go when it ends.
func (o *OVS) For(t testing.TB) *OVS {
	return &OVS{t: t, Host: o.Host.For(t)}
}

// Vsctl runs ovs-vsctl and returns its output; a failure fails the test.
func (o *OVS) Vsctl(args ...string) string {
	o.t.Helper()
	out, err := vsctl(args...)
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

// NewBridge makes a kernel-datapath bridge for one test, deleted after it.
func (o *OVS) NewBridge() string {
	o.t.Helper()
	br := fmt.Sprintf("qbr%d", bridgeSeq.Add(1))
	o.Vsctl("add-br", br)
	o.t.Cleanup(func() { _, _ = vsctl("--if-exists", "del-br", br) })
	return br
}

// uplinkOf is the name of bridge br's uplink port.
func uplinkOf(br string) string { return br + "up" }

// UplinkName is the name of bridge br's uplink port, in o.Host: the node's
// NIC on the wire.
func (o *OVS) UplinkName(br string) string { return uplinkOf(br) }

// Uplink joins bridge br to node far with a veth: a plain (trunk) port on
// the bridge, named farName on the far node (its master).
func (o *OVS) Uplink(br string, far *Node, farName string) {
	o.t.Helper()
	name := uplinkOf(br)
	Veth(o.t, o.Host, name, far, farName, 0)
	o.t.Cleanup(func() { o.Host.NS.Do(func(ns.NetNS) error { return DelLink(name) }) })
	o.Vsctl("add-port", br, name)
}

// Ports lists the ports on br other than its uplink.
func (o *OVS) Ports(br string) []string {
	o.t.Helper()
	return slices.DeleteFunc(o.AllPorts(br), func(p string) bool { return p == uplinkOf(br) })
}

// AllPorts lists every port on br.
func (o *OVS) AllPorts(br string) []string {
	o.t.Helper()
	return strings.Fields(o.Vsctl("list-ports", br))
}

// PortColumn reads one column of a port ("tag", "other_config:qinq-ethtype"),
// as ovs-vsctl prints it.
func (o *OVS) PortColumn(port, col string) string {
	o.t.Helper()
	return o.Vsctl("get", "Port", port, col)
}

// PortColumns reads columns of a port as "column=value" each.
func (o *OVS) PortColumns(port string, cols ...string) []string {
	o.t.Helper()
	vals := strings.Split(o.Vsctl(append([]string{"get", "Port", port}, cols...)...), "\n")
	if len(vals) != len(cols) {
		o.t.Fatalf("ovs-vsctl get Port %s %v: %d values", port, cols, len(vals))
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c + "=" + vals[i]
	}
	return out
}
