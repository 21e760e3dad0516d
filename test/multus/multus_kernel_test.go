//go:build kerneltest

// Package multus runs the real Multus thin plugin (bin/multus, built from
// the Go module proxy by scripts/k8s/build-multus.sh) as the CNI plugin of a
// simulated node, against a small fake API server that serves the very Pod
// and NetworkAttachmentDefinition files of deploy/networks. Multus reads the
// pod's k8s.v1.cni.cncf.io/networks annotation, fetches the NAD, rewrites
// the config (cni-args into args.cni, mac and ips into runtimeConfig) and
// execs bin/qinq, as on a real node. The frames are captured on a veth wire
// to a second node where bin/qinq runs directly.
package multus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

var binDir string // bin/: multus, qinq, loopback, static

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("../..")
	binDir = filepath.Join(root, "bin")
	if err := preflight(); err != nil {
		fmt.Fprintf(os.Stderr, "the Multus kernel test cannot run: %v\n(run it through `make test`, which builds bin/ and boots the VM)\n", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// preflight fails loudly instead of letting the test skip.
func preflight() error {
	if os.Getuid() != 0 {
		return fmt.Errorf("not root")
	}
	for _, b := range []string{"multus", "qinq", "loopback", "static"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return fmt.Errorf("%w (make build; scripts/k8s/build-multus.sh)", err)
		}
	}
	return nil
}

const (
	podFile  = "../../deploy/networks/pod-per-pod-vlan.yaml"
	nadFile  = "../../deploy/networks/per-pod.yaml"
	podMAC   = "02:00:5e:96:0c:01" // what the Pod's annotation asks for
	podIP    = "10.150.12.1"       // from the annotation's ips
	peerIP   = "10.150.12.2"
	podSVlan = 150 // from the annotation's cni-args; the NAD's own is 100
	podCVlan = 12  // the NAD's own is 10
)

// multusConf is the node's CNI config as a Multus thin-plugin install writes
// it, with the reference loopback plugin as the cluster network (the
// lightest real delegate: Multus needs one for eth0).
func multusConf(t *testing.T, kubeconfig string) []byte {
	dir := t.TempDir()
	conf := map[string]any{
		"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
		"kubeconfig": kubeconfig, "binDir": binDir, "cniDir": filepath.Join(dir, "cache"),
		"logFile": filepath.Join(dir, "multus.log"), "logLevel": "verbose", "logToStderr": false,
		"delegates": []any{map[string]any{"cniVersion": "1.0.0", "name": "cluster", "type": "loopback"}},
	}
	b, _ := json.Marshal(conf)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "multus.log"))
			t.Logf("multus log:\n%s", log)
		}
	})
	return b
}

// cniRuntime invokes a plugin for a pod the way the kubelet's runtime does:
// in the node's network namespace, with the pod's K8S_* CNI_ARGS.
type cniRuntime struct {
	t       *testing.T
	node    ns.NetNS
	pod     ns.NetNS
	id      string
	cniArgs string
}

func (r *cniRuntime) exec(verb, plugin, ifName string, conf []byte) (string, error) {
	args := &invoke.Args{Command: verb, ContainerID: r.id, NetNS: r.pod.Path(), IfName: ifName, Path: binDir, PluginArgsStr: r.cniArgs}
	var out []byte
	var err error
	do(r.t, r.node, func() error {
		out, err = (&invoke.RawExec{Stderr: os.Stderr}).ExecPlugin(context.Background(), filepath.Join(binDir, plugin), conf, args.AsEnv())
		return nil
	})
	return string(out), err
}

func TestMultus_PerPodVLANAndMACFromTheAnnotation(t *testing.T) {
	nodeA, nodeB := newNS(t), newNS(t)
	wire(t, nodeA, nodeB)
	api, kubeconfig := newAPIServer(t, nodeA, podFile, nadFile)
	pod := &cniRuntime{t: t, node: nodeA, pod: newNS(t), id: "multus-pod-1",
		cniArgs: fmt.Sprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=multus-pod-1;K8S_POD_UID=%s", api.pod.Name, api.pod.UID)}
	conf := multusConf(t, kubeconfig)
	hostBefore := links(t, nodeA)

	if out, err := pod.exec("ADD", "multus", "eth0", conf); err != nil {
		t.Fatalf("ADD through Multus: %v\n%s", err, out)
	}
	peer := &cniRuntime{t: t, node: nodeB, pod: newNS(t), id: "peer-1"}
	peerConf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"peer","type":"qinq","master":"eth1","sVlan":%d,"cVlans":[%d],
		"ipam":{"type":"static","addresses":[{"address":"%s/24"}]}}`, podSVlan, podCVlan, peerIP)
	if out, err := peer.exec("ADD", "qinq", "net1", []byte(peerConf)); err != nil {
		t.Fatalf("peer ADD: %v\n%s", err, out)
	}
	t.Cleanup(func() { peer.exec("DEL", "qinq", "net1", []byte(peerConf)) })

	net1 := assertPodLink(t, pod.pod, nodeA)
	stop := capture(t, nodeB, "eth1")
	if err := echoUDP(t, pod.pod, peer.pod, peerIP); err != nil {
		t.Fatalf("pod -> peer across the wire: %v", err)
	}
	assertWire(t, stop())
	assertNetworkStatus(t, api)
	if got := net1.Attrs().HardwareAddr.String(); got != podMAC {
		t.Errorf("net1 MAC %s, want %s from the annotation's \"mac\" (Multus passes it as runtimeConfig.mac; qinq honours it with issue 10)", got, podMAC)
	}

	if out, err := pod.exec("DEL", "multus", "eth0", conf); err != nil {
		t.Fatalf("DEL through Multus: %v\n%s", err, out)
	}
	assertNothingLeft(t, nodeA, pod, hostBefore)
}

// assertPodLink checks net1 in the pod: the VLAN link for C-VLAN 12 from
// cni-args (not the NAD's 10), on an 802.1ad S-link for S-VLAN 150 on the
// node's eth1, with the address from the annotation's ips.
func assertPodLink(t *testing.T, pod, node ns.NetNS) netlink.Link {
	t.Helper()
	l, ok := links(t, pod)["net1"]
	if !ok {
		t.Fatalf("no net1 in the pod: %v", names(links(t, pod)))
	}
	v, ok := l.(*netlink.Vlan)
	if !ok || v.VlanId != podCVlan || v.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q || v.MTU != 1496 {
		t.Fatalf("net1: %T %+v, want 802.1Q VLAN %d with MTU 1496", l, l.Attrs(), podCVlan)
	}
	sLinks := 0
	for _, hl := range links(t, node) {
		if s, ok := hl.(*netlink.Vlan); ok && s.VlanProtocol == netlink.VLAN_PROTOCOL_8021AD && s.VlanId == podSVlan {
			sLinks++
		}
	}
	if sLinks != 1 {
		t.Fatalf("%d 802.1ad S-links for VLAN %d on the node, want 1: %v", sLinks, podSVlan, names(links(t, node)))
	}
	var addrs []netlink.Addr
	do(t, pod, func() (err error) { addrs, err = netlink.AddrList(l, netlink.FAMILY_V4); return err })
	if len(addrs) != 1 || addrs[0].IPNet.String() != podIP+"/24" {
		t.Fatalf("net1 addresses %v, want %s/24 from the annotation's ips", addrs, podIP)
	}
	return l
}

// assertWire: the pod's frames carry S 150 (0x88a8) then C 12 (0x8100),
// and come from the requested MAC.
func assertWire(t *testing.T, frames []frame) {
	t.Helper()
	var ip []frame
	for _, f := range frames {
		if f.etherType == 0x0800 {
			ip = append(ip, f)
		}
	}
	if len(ip) < 2 {
		t.Fatalf("captured %d IPv4 frames (of %d), want a request and a reply: %v", len(ip), len(frames), frames)
	}
	want := []tag{{0x88a8, podSVlan}, {0x8100, podCVlan}}
	for _, f := range ip {
		if fmt.Sprint(f.tags) != fmt.Sprint(want) {
			t.Fatalf("frame %v: tags %v, want %v", f, f.tags, want)
		}
	}
	t.Logf("captured %d IPv4 frames, e.g. %v", len(ip), ip[0])
	for _, f := range ip {
		if f.src.String() == podMAC {
			return
		}
	}
	t.Errorf("no frame on the wire from the requested MAC %s: %v", podMAC, ip)
}

// assertNetworkStatus: Multus reported net1 in the pod's network-status,
// with the address, through the status update.
func assertNetworkStatus(t *testing.T, api *apiServer) {
	t.Helper()
	for _, st := range api.networkStatus(t) {
		if st.Interface != "net1" {
			continue
		}
		if st.Name != "default/tenants" || len(st.IPs) != 1 || st.IPs[0] != podIP {
			t.Fatalf("network-status for net1: %+v, want default/tenants with %s", st, podIP)
		}
		// Multus posts its events asynchronously and may exit before they
		// are sent: logged, not asserted.
		t.Logf("events Multus recorded: %v", api.recorded())
		if st.Mac != podMAC {
			t.Errorf("network-status for net1 reports MAC %s, want %s (issue 10: runtimeConfig.mac)", st.Mac, podMAC)
		}
		return
	}
	t.Fatalf("network-status has no net1: %+v", api.networkStatus(t))
}

// assertNothingLeft: after DEL through Multus, the node has the links it had
// before, the pod has no net1, and qinq keeps no reference of the pod.
func assertNothingLeft(t *testing.T, node ns.NetNS, pod *cniRuntime, before map[string]netlink.Link) {
	t.Helper()
	if after := links(t, node); len(after) != len(before) {
		t.Errorf("links on the node after DEL: %v, before ADD: %v", names(after), names(before))
	}
	if _, ok := links(t, pod.pod)["net1"]; ok {
		t.Error("net1 is still in the pod after DEL")
	}
	state := os.Getenv("QINQ_STATE_DIR")
	if state == "" {
		state = "/run/qinq"
	}
	filepath.WalkDir(state, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), pod.id) {
			t.Errorf("qinq reference left after DEL: %s", path)
		}
		return nil
	})
}

func names(m map[string]netlink.Link) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}
