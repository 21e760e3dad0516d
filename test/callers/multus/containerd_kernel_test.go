//go:build kerneltest

package multus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// TestMultus_UnderContainerd: the Multus thin plugin as containerd 1.6's
// only network (its conf dir holds Multus's config, as a Multus install
// writes it), the reference ptp plugin with host-local as the cluster
// network (containerd refuses a sandbox whose eth0 has no IP), and qinq as
// net1 from the pod's annotation, fetched from the fake API server. crictl
// drives the CRI as a kubelet would: runp, inspectp, stopp twice, rmp.
func TestMultus_UnderContainerd(t *testing.T) {
	host, far := env.HostNode(t), env.NewNode(t)
	testenv.Veth(t, host, "eth1", far, "eth1", 1500) // eth1: the NAD's master, in the VM's namespace
	t.Cleanup(func() { testenv.DelLink("eth1") })
	api, kubeconfig := newAPIServer(t, host, podFile, nadFile)
	qinqLog := logToFile(t, api, "tenants")
	peer := testenv.NewContainer(t)
	peerConf := testenv.QinQ("1.1.0", "peer").OnMaster("eth1", podSVlan, podCVlan).WithStaticIP(peerIP + "/24")
	far.Add(peerConf, peer, "net1")
	t.Cleanup(func() { far.Del(peerConf, peer, "net1") })

	dir := t.TempDir()
	clusterIPAM, multusCache, confDir := filepath.Join(dir, "ipam"), filepath.Join(dir, "multus"), filepath.Join(dir, "net.d")
	for _, d := range []string{clusterIPAM, multusCache, confDir, "/var/lib/cni/results"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bins := testenv.BinDir(t, map[string]string{"multus": env.Tool("multus"), "qinq": env.Plugin, "ptp": env.Tool("ptp"),
		"host-local": env.Tool("host-local"), "static": env.Tool("static"), "loopback": env.Tool("loopback")})
	conf := multusConf(t, kubeconfig).With("binDir", bins, "cniDir", multusCache, "delegates", []any{map[string]any{
		"cniVersion": "1.0.0", "name": "cluster", "type": "ptp",
		"ipam": map[string]any{"type": "host-local", "dataDir": clusterIPAM, "ranges": [][]map[string]string{{{"subnet": "10.99.0.0/24"}}}},
	}})
	if err := os.WriteFile(filepath.Join(confDir, "00-multus.conf"), conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctrd := env.StartContainerd(t, bins, confDir, env.RuntimeEnv(filepath.Dir(qinqLog))...)
	world := testenv.NewWorld(t, nil, testenv.StateDir(env.StateDir), testenv.HostLocalStore(clusterIPAM),
		testenv.Dir{Name: "multus-cache", Path: multusCache}, testenv.Dir{Name: "cni-cache", Path: "/var/lib/cni"})
	before := world.Snapshot()

	id := ctrd.Must("runp", testenv.PodSandboxConfig(t, "default", api.pod.Name, string(api.pod.UID), nil))
	sb := ctrd.Inspect(id)
	if sb.Status.State != "SANDBOX_READY" || !strings.HasPrefix(sb.Status.Network.IP, "10.99.0.") {
		t.Fatalf("inspectp: state %s, IP %q; want SANDBOX_READY with the cluster network's 10.99.0.x on eth0", sb.Status.State, sb.Status.Network.IP)
	}
	netns := sb.NetNS()
	pod := testenv.RuntimeContainer(t, id, netns)
	if addrs := testenv.Addrs(t, pod.NS, "eth0"); len(addrs) != 1 || !strings.HasPrefix(addrs[0], sb.Status.Network.IP+"/") {
		t.Errorf("eth0 (ptp) addresses %v, want the %s inspectp reports", addrs, sb.Status.Network.IP)
	}
	net1 := assertPodLink(t, pod, host)
	if got := net1.Attrs().HardwareAddr.String(); got != podMAC {
		t.Errorf("net1 MAC %s, want %s from the annotation", got, podMAC)
	}
	stop := far.Capture("eth1")
	if err := testenv.Echo(t, pod, peer, peerIP, 1496); err != nil {
		t.Errorf("pod net1 -> peer across the wire, a full 1496-byte datagram: %v", err)
	}
	assertWire(t, stop())
	assertNetworkStatus(t, api)
	pod.NS.Close() // the runtime's namespace must not outlive the pod for us

	ctrd.Must("stopp", id)
	ctrd.Must("stopp", id)
	ctrd.Must("rmp", id)
	world.Unchanged(before)
	if _, err := os.Stat(netns); err == nil {
		t.Errorf("the pod's network namespace %s is still there", netns)
	}
	verbs := testenv.LoggedVerbs(t, qinqLog, id)
	t.Logf("containerd 1.6 -> Multus -> qinq: %s", strings.Join(verbs, ", "))
	// containerd's three teardown calls reach qinq through Multus, the
	// later two without a netns.
	if want := []string{"ADD ok", "DEL ok", "DEL ok", "DEL ok"}; !slices.Equal(verbs, want) {
		t.Errorf("qinq logged %v, want %v", verbs, want)
	}
}

// logToFile makes the fake API server's NAD name log qinq's invocations to
// a file of the test's, and returns its path.
func logToFile(t *testing.T, api *apiServer, name string) string {
	t.Helper()
	nad := api.nads[name]
	var conf map[string]any
	if err := json.Unmarshal([]byte(nad.Spec.Config), &conf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qinq.log")
	conf["logFile"], conf["logLevel"] = path, "debug"
	b, _ := json.Marshal(conf)
	nad.Spec.Config = string(b)
	return path
}
