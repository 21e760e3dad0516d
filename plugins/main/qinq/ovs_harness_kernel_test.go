//go:build kerneltest

// Open vSwitch for the OVS kernel tests: Debian's ovsdb-server and
// ovs-vswitchd (scripts/ovs/setup.sh installs them on the host; the VM sees
// them through its read-only share), started once inside the VM, in the
// VM's own /run, with other_config:vlan-limit=2 set before ovs-vswitchd
// starts. They never start outside the VM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

const ovsRun = "/run/openvswitch" // VM-local tmpfs; /var/run/openvswitch is the same place

var (
	ovsOnce sync.Once
	ovsErr  error
	rootNS  ns.NetNS
)

// needOVS starts Open vSwitch on first use and fails the test loudly if it
// cannot: OVS tests never skip.
func needOVS(t *testing.T) *node {
	t.Helper()
	ovsOnce.Do(func() { ovsErr = startOVS() })
	if ovsErr != nil {
		t.Fatalf("Open vSwitch did not start in the VM: %v\n%s", ovsErr, ovsLogs())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Open vSwitch logs:\n%s", ovsLogs())
		}
	})
	return &node{t: t, ns: rootNS}
}

func startOVS() error {
	if os.Getenv("QINQ_IN_VM") != "1" {
		return fmt.Errorf("the OVS tests start ovsdb-server and ovs-vswitchd, which must never run on the host: run them inside the VM (scripts/test-kernel.sh without QINQ_ON_HOST)")
	}
	var err error
	if rootNS, err = ns.GetNS("/proc/1/ns/net"); err != nil {
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
	if _, err := vsctlErr("--no-wait", "init", "--", "set", "Open_vSwitch", ".", "other_config:vlan-limit=2"); err != nil {
		return err
	}
	waitForUptime(11 * time.Second)
	if err := daemon("/usr/sbin/ovs-vswitchd", "unix:"+ovsRun+"/db.sock", "--pidfile", "--log-file="+ovsRun+"/ovs-vswitchd.log"); err != nil {
		return err
	}
	// ovs-vsctl without --no-wait returns once ovs-vswitchd has applied it.
	_, err = vsctlErr("--timeout=60", "set", "Open_vSwitch", ".", "external_ids:qinq-test=ready")
	return err
}

func startOVSDB() error {
	if err := os.MkdirAll(ovsRun, 0o755); err != nil {
		return err
	}
	db := filepath.Join(ovsRun, "conf.db")
	if out, err := exec.Command("/usr/bin/ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		return fmt.Errorf("ovsdb-tool create: %v: %s", err, out)
	}
	err := daemon("/usr/sbin/ovsdb-server", db, "--remote=punix:"+ovsRun+"/db.sock", "--pidfile", "--log-file="+ovsRun+"/ovsdb-server.log")
	if err != nil {
		return err
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(ovsRun + "/db.sock"); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("ovsdb-server did not create %s/db.sock", ovsRun)
}

// waitForUptime works around Debian's OVS 3.1.0: count_cpu_cores() refreshes
// its cached CPU count only when 10 s of CLOCK_MONOTONIC have passed since
// "time 0", so in a machine booted less than 10 s ago it reports 0 CPUs, the
// kernel datapath (per-CPU upcall dispatch) gets 0 handler threads, and every
// upcall, so every first packet of a flow, is lost. Fixed upstream by "ovs-
// thread: Fix cpus not read for the first 10s."
func waitForUptime(min time.Duration) {
	for {
		up, err := uptime()
		if err != nil || up >= min {
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
		if err := rootNS.Set(); err != nil {
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

func ovsLogs() string {
	var b strings.Builder
	for _, f := range []string{"ovsdb-server.log", "ovs-vswitchd.log"} {
		data, _ := os.ReadFile(filepath.Join(ovsRun, f))
		lines := strings.Split(string(data), "\n")
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", f, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

func vsctlErr(args ...string) (string, error) {
	out, err := exec.Command("/usr/bin/ovs-vsctl", append([]string{"--timeout=20"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func vsctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := vsctlErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var brSeq int

// newBridge makes a kernel-datapath bridge for one test, deleted after it.
func newBridge(t *testing.T) string {
	brSeq++
	br := fmt.Sprintf("qbr%d", brSeq)
	vsctl(t, "add-br", br)
	t.Cleanup(func() { _, _ = vsctlErr("--if-exists", "del-br", br) })
	return br
}

// uplink joins bridge br to node far with a veth: a plain (trunk) port on
// the bridge, "wire0" on the far node, where kernel-mode qinq containers sit.
func uplink(t *testing.T, host *node, br string, far *node) {
	name := br + "up"
	host.do(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		v := &netlink.Veth{LinkAttrs: attrs, PeerName: "wirepeer", PeerNamespace: netlink.NsFd(int(far.ns.Fd()))}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	t.Cleanup(func() {
		host.ns.Do(func(ns.NetNS) error { l, _ := netlink.LinkByName(name); return netlink.LinkDel(l) })
	})
	far.do(func() error {
		l, err := netlink.LinkByName("wirepeer")
		if err == nil {
			err = netlink.LinkSetName(l, "wire0")
		}
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		return err
	})
	vsctl(t, "add-port", br, name)
}

// ovsConf is a standalone OVS-mode qinq network on bridge br.
func ovsConf(br string, sVlan int, cVlans ...int) conf {
	c := conf{"cniVersion": "1.1.0", "name": "qinq-ovs-test", "type": "qinq", "mode": "ovs", "bridge": br, "sVlan": sVlan}
	if cVlans != nil {
		c["cVlans"] = cVlans
	}
	return c
}

// execBin runs another CNI plugin binary (bin/ovs: the real ovs-cni) on n.
func (n *node) execBin(bin, verb string, c conf, ctr *container, ifName string) (types.Result, error) {
	args := &invoke.Args{Command: verb, ContainerID: ctr.id, IfName: ifName, Path: cniPath, NetNS: ctr.ns.Path()}
	var res types.Result
	var err error
	n.do(func() error {
		if verb == "ADD" {
			res, err = invoke.ExecPluginWithResult(context.Background(), bin, c.bytes(n.t), args, nil)
		} else {
			err = invoke.ExecPluginWithoutResult(context.Background(), bin, c.bytes(n.t), args, nil)
		}
		return nil
	})
	return res, err
}

// portsOf lists the ports on br other than its uplink.
func portsOf(t *testing.T, br string) []string {
	var out []string
	for _, p := range strings.Fields(vsctl(t, "list-ports", br)) {
		if p != br+"up" {
			out = append(out, p)
		}
	}
	return out
}

// portColumn reads one column of a port, as ovs-vsctl prints it.
func portColumn(t *testing.T, port, col string) string {
	return vsctl(t, "get", "Port", port, col)
}

// hostLinks lists the links in the host (VM root) namespace named qovs*.
// newVeths lists the qinq host veths that exist now but not in before: a
// container torn down by an earlier test takes its veth with it only once
// the kernel's asynchronous netns cleanup has run.
func newVeths(t *testing.T, before []string) []string {
	var out []string
	for _, v := range hostVeths(t) {
		if !slices.Contains(before, v) {
			out = append(out, v)
		}
	}
	return out
}

func hostVeths(t *testing.T) []string {
	var out []string
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "qovs") {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// onlyLoopback fails if the container has any link but lo.
func onlyLoopback(t *testing.T, c *container) {
	t.Helper()
	c.ns.Do(func(ns.NetNS) error {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().Name != "lo" {
				t.Errorf("link %q left in the container", l.Attrs().Name)
			}
		}
		return nil
	})
}

// addVLAN makes the container tag its own C-VLAN on parent (tunnel mode).
func addVLAN(t *testing.T, c *container, parent string, vid int, cidr string) {
	t.Helper()
	err := c.ns.Do(func(ns.NetNS) error {
		p, err := netlink.LinkByName(parent)
		if err != nil {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex = fmt.Sprintf("%s.%d", parent, vid), p.Attrs().Index
		v := &netlink.Vlan{LinkAttrs: attrs, VlanId: vid}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr(cidr)
		if err := netlink.AddrAdd(v, addr); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func resultOf(t *testing.T, r types.Result) *current.Result {
	t.Helper()
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
