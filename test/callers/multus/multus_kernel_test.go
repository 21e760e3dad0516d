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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.New(); err == nil {
		err = env.Preflight("multus", "loopback", "static", "ptp", "host-local", "crictl")
	}
	// qinq's state of this test alone; Multus hands QINQ_STATE_DIR on to qinq
	// with the rest of its environment.
	if err == nil {
		env.StateDir, err = os.MkdirTemp("", "qinq-multus-state.")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "the Multus kernel test cannot run: %v\n(run it through `make test`: make build, scripts/k8s/build-multus.sh, the VM)\n", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(env.StateDir)
	os.Exit(code)
}

const (
	podFile  = "../../../deploy/networks/pod-per-pod-vlan.yaml"
	nadFile  = "../../../deploy/networks/per-pod.yaml"
	podMAC   = "02:00:5e:96:0c:01" // what the Pod's annotation asks for
	podIP    = "10.150.12.1"       // from the annotation's ips
	peerIP   = "10.150.12.2"
	podSVlan = 150 // from the annotation's cni-args; the NAD's own is 100
	podCVlan = 12  // the NAD's own is 10
)

// multusConf is the node's CNI config as a Multus thin-plugin install writes
// it, with the reference loopback plugin as the cluster network (the
// lightest real delegate: Multus needs one for eth0). binDir is where Multus
// finds its delegates, qinq among them.
func multusConf(t *testing.T, kubeconfig string) testenv.Conf {
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "multus.log"))
			t.Logf("multus log:\n%s", log)
		}
	})
	return testenv.Conf{
		"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
		"kubeconfig": kubeconfig, "binDir": filepath.Dir(env.Plugin), "cniDir": filepath.Join(dir, "cache"),
		"logFile": filepath.Join(dir, "multus.log"), "logLevel": "verbose", "logToStderr": false,
		"delegates": []any{map[string]any{"cniVersion": "1.0.0", "name": "cluster", "type": "loopback"}},
	}
}

func TestMultus_PerPodVLANAndMACFromTheAnnotation(t *testing.T) {
	nodeA, nodeB := env.NewNode(t), env.NewNode(t)
	testenv.Wire(t, nodeA, nodeB, "eth1", 1500) // eth1: the master deploy/'s NADs name
	api, kubeconfig := newAPIServer(t, nodeA, podFile, nadFile)
	pod, peer := testenv.NewContainer(t), testenv.NewContainer(t)
	// What the kubelet's runtime passes: the pod's identity in CNI_ARGS.
	multus := []testenv.InvokeOption{testenv.Binary(env.Tool("multus")), testenv.CNIArgs(fmt.Sprintf(
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
		api.pod.Name, pod.ID, api.pod.UID))}
	conf := multusConf(t, kubeconfig)
	world := testenv.NewWorld(t, nodeA, testenv.StateDir(env.StateDir))
	before := world.Snapshot()

	nodeA.Add(conf, pod, "eth0", multus...)
	peerConf := testenv.QinQ("1.1.0", "peer").OnMaster("eth1", podSVlan, podCVlan).WithStaticIP(peerIP + "/24")
	nodeB.Add(peerConf, peer, "net1")

	net1 := assertPodLink(t, pod, nodeA)
	stop := nodeB.Capture("eth1")
	if err := testenv.Echo(t, pod, peer, peerIP, 1496); err != nil {
		t.Fatalf("pod -> peer across the wire, a full 1496-byte datagram: %v", err)
	}
	assertWire(t, stop())
	assertNetworkStatus(t, api)
	if got := net1.Attrs().HardwareAddr.String(); got != podMAC {
		t.Errorf("net1 MAC %s, want %s from the annotation's \"mac\" (Multus passes it as runtimeConfig.mac)", got, podMAC)
	}

	nodeB.Del(peerConf, peer, "net1") // the state directory is shared by both nodes
	nodeA.Del(conf, pod, "eth0", multus...)
	// DEL through Multus leaves nothing: the node's links and addresses and
	// qinq's state files (its references) as before ADD, no net1 in the pod.
	world.Unchanged(before)
	if _, err := testenv.LinkByName(pod.NS, "net1"); err == nil {
		t.Error("net1 is still in the pod after DEL")
	}
}

// assertPodLink checks net1 in the pod: the NAD names no containerLink, so
// it is the default bridge endpoint: a veth (MTU 1496) whose peer is a port
// in qinq's own namespace, no VLAN link in the pod, an 802.1ad S-link for
// S-VLAN 150 (from cni-args, not the NAD's 100) on the node's eth1, and the
// address from the annotation's ips. C-VLAN 12 is on the wire (assertWire).
func assertPodLink(t *testing.T, pod *testenv.Container, node *testenv.Node) netlink.Link {
	t.Helper()
	l := testenv.Link(t, pod.NS, "net1")
	if _, ok := l.(*netlink.Veth); !ok || l.Attrs().MTU != 1496 {
		t.Fatalf("net1: %T %+v, want the bridge endpoint's veth with MTU 1496", l, l.Attrs())
	}
	if vs := testenv.VLANs(t, pod.NS); len(vs) != 0 {
		t.Fatalf("the pod holds VLAN links %v", vs)
	}
	if n := testenv.CountChainVLANs(t, node.NS, env.StateDir, netlink.VLAN_PROTOCOL_8021AD, podSVlan); n != 1 {
		t.Fatalf("%d 802.1ad S-links for VLAN %d on the node, want 1: %v", n, podSVlan, testenv.LinkNames(t, node.NS, ""))
	}
	if addrs := testenv.Addrs(t, pod.NS, "net1"); len(addrs) != 1 || addrs[0] != podIP+"/24" {
		t.Fatalf("net1 addresses %v, want %s/24 from the annotation's ips", addrs, podIP)
	}
	return l
}

// assertWire: the pod's frames carry S 150 (0x88a8) then C 12 (0x8100),
// and some come from the requested MAC.
func assertWire(t *testing.T, frames []testenv.Frame) {
	t.Helper()
	testenv.AssertTags(t, frames, testenv.Tag8021AD(podSVlan), testenv.Tag8021Q(podCVlan))
	for _, f := range testenv.IPv4Frames(frames) {
		if f.Src.String() == podMAC {
			return
		}
	}
	t.Errorf("no frame on the wire from the requested MAC %s: %v", podMAC, testenv.IPv4Frames(frames))
}

// assertNetworkStatus: Multus reported net1 in the pod's network-status,
// with its address and MAC, through the status update.
func assertNetworkStatus(t *testing.T, api *apiServer) {
	t.Helper()
	statuses := api.networkStatus(t)
	for _, st := range statuses {
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
			t.Errorf("network-status for net1 reports MAC %s, want %s", st.Mac, podMAC)
		}
		return
	}
	out, _ := json.Marshal(statuses)
	t.Fatalf("network-status has no net1: %s", out)
}
