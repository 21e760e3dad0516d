//go:build !kerneltest

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/node"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/policy"
)

// FuzzVerbInputs: what DEL, CHECK, GC and STATUS read before they touch the
// node (the config with and without CNI_ARGS, the CNI_* variables, the GC
// list, the namespace, the node policy, logFile and ovsdbSocket) never
// panics, refuses with a CNI error, and what it accepts is safe to use:
// names that reach link names and state files are valid, a record stays in
// the state directory, the log stays in the log directory, the OVSDB
// endpoint is one of Open vSwitch's. No syscall touches the node.
func FuzzVerbInputs(f *testing.F) {
	seeds, _ := filepath.Glob("../../../pkg/config/testdata/configs/*.json")
	for _, s := range seeds {
		data, _ := os.ReadFile(s)
		f.Add(data, "K8S_POD_NAMESPACE=tenant-a;SVLAN=150", "c1", "net1")
	}
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth1","sVlan":150,"cVlans":[12],"logFile":"/var/log/qinq/x","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"}]}`),
		"K8S_POD_NAMESPACE=a;K8S_POD_NAMESPACE=b", "../x", "net1")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":1,"ovsdbSocket":"unix:/run/openvswitch/db.sock"}`), "", "c", "eth0")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"../../etc","type":"qinq","master":"eth1","sVlan":1,"ipam":{"type":"host-local","dataDir":"/tmp/x","resolvConf":"/etc/resolv.conf"}}`), "", "c", "eth0")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth1","sVlan":1,"ipam":{"type":"portmap"},"runtimeConfig":{"portMappings":[{"hostPort":22,"containerPort":22}]}}`), "", "c", "eth0")
	pol, err := policy.Parse([]byte(`{"version":1,"namespaces":{"tenant-a":{"masters":["eth1"],"sVlans":["100-199"],"cVlans":["1-4094"],"containerLinks":["vlan"],"bridges":["br0"]}},"noNamespace":{"masters":["eth1"],"sVlans":["1-4094"],"cVlans":["1-4094"],"tunnelMode":true,"containerLinks":["vlan","macvlan","ipvlan"]}}`))
	if err != nil {
		f.Fatal(err)
	}
	settings := node.Settings{LogDir: "/var/log/qinq", IPAM: node.DefaultIPAMBounds()}
	f.Fuzz(func(t *testing.T, stdin []byte, cniArgs, containerID, ifName string) {
		args := &skel.CmdArgs{ContainerID: containerID, IfName: ifName, Args: cniArgs, StdinData: stdin}
		if a, err := attachmentOf(args, "n"); err == nil {
			assertSafeAttachment(t, a)
		} else {
			assertCode(t, err, 3, 4)
		}
		if _, err := validAttachments(stdin); err != nil {
			assertCode(t, err, 7)
		}
		if _, _, err := policy.K8sNamespace(cniArgs); err != nil {
			assertCode(t, err, cnierr.CodePolicy)
		}
		for _, env := range []string{cniArgs, ""} { // DEL and CHECK; GC and STATUS
			c, err := config.Parse(stdin, env)
			if err != nil {
				assertCode(t, err, 4, 6, 7)
				continue
			}
			assertSafeConfig(t, settings, c)
			if _, err := pol.Allow(cniArgs, c, nil); err != nil {
				assertCode(t, err, cnierr.CodePolicy)
			}
		}
	})
}

func assertCode(t *testing.T, err error, codes ...uint) {
	t.Helper()
	code, ok := cnierr.Code(err)
	for _, c := range codes {
		if ok && code == c {
			if len(err.Error()) > cnierr.MaxMsg+100 {
				t.Fatalf("message of %d bytes", len(err.Error()))
			}
			return
		}
	}
	t.Fatalf("refusal %v (code %d), want one of %v", err, code, codes)
}

func assertSafeAttachment(t *testing.T, a plan.Attachment) {
	t.Helper()
	dir := "/run/qinq/host-1/attachments"
	if p := filepath.Join(dir, a.ID()); filepath.Dir(p) != dir || strings.ContainsRune(a.ID(), 0) {
		t.Fatalf("attachment %q would be recorded at %s", a.ID(), p)
	}
	if v := plan.HostVethName("n", a.ContainerID, a.IfName); len(v) > 15 || !plan.IsHostVethName(v) {
		t.Fatalf("host veth name %q", v)
	}
	if len(a.IfName) == 0 || len(a.IfName) > 15 || strings.ContainsAny(a.IfName, "/: \t\n") {
		t.Fatalf("accepted CNI_IFNAME %q", a.IfName)
	}
}

func assertSafeConfig(t *testing.T, s node.Settings, c *config.Config) {
	t.Helper()
	for _, name := range []string{c.Master, c.Bridge} {
		if len(name) > 15 || strings.ContainsAny(name, "/: \t\n\x00") || name == "." || name == ".." {
			t.Fatalf("accepted a name %q that reaches link names", name)
		}
	}
	if s.CheckLogFile(c.LogFile) == nil && c.LogFile != "" && filepath.Dir(c.LogFile) != s.LogDir {
		t.Fatalf("logFile %q outside %s passed", c.LogFile, s.LogDir)
	}
	if err := s.CheckIPAM(c.IPAMType, c.Raw, "/run/qinq"); err != nil {
		assertCode(t, err, types.ErrInvalidNetworkConfig)
	} else {
		assertSafeIPAM(t, s, c)
	}
	if c.Backend == config.BackendOVS {
		if err := s.CheckOVSDB(c.OVSDBSocket); err == nil && !strings.HasPrefix(c.OVSDBSocket, "unix:/run/openvswitch/") && !strings.HasPrefix(c.OVSDBSocket, "unix:/var/run/openvswitch/") {
			t.Fatalf("ovsdbSocket %q passed", c.OVSDBSocket)
		} else if err != nil {
			assertCode(t, err, types.ErrInvalidNetworkConfig)
		}
	}
}

// assertSafeIPAM: an ipam object the node's bounds accept names an allowed
// type, and host-local, reading the config with its own parser, keeps its
// store in an allowed directory and reads an allowed resolver file.
func assertSafeIPAM(t *testing.T, s node.Settings, c *config.Config) {
	t.Helper()
	if c.IPAMType != "" && !slices.Contains(s.IPAM.Types, c.IPAMType) {
		t.Fatalf("ipam.type %q passed", c.IPAMType)
	}
	if c.IPAMType != "host-local" {
		return
	}
	hl, _, err := allocator.LoadIPAMConfig(c.Raw, "")
	if err != nil {
		return // host-local refuses it itself
	}
	dir := hl.DataDir
	if dir == "" {
		dir = "/var/lib/cni/networks"
	}
	store := filepath.Join(dir, hl.Name)
	if !slices.ContainsFunc(s.IPAM.DataDirs, func(d string) bool { return strings.HasPrefix(store, d+"/") }) {
		t.Fatalf("host-local's store %s (dataDir %q, name %q) passed", store, hl.DataDir, hl.Name)
	}
	if hl.ResolvConf != "" && !slices.Contains(s.IPAM.Files, hl.ResolvConf) {
		t.Fatalf("host-local's resolvConf %q passed", hl.ResolvConf)
	}
}
