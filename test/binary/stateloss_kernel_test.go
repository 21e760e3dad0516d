//go:build kerneltest

package binary

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// Losing state never takes a pod offline. Each case builds pods on one
// shared S-link with a store of its own (QINQ_STATE_DIR), removes the whole
// state directory, and then runs DEL, ADD, GC, and the same from a second
// mount namespace with an empty /run of its own (Multus thick without
// chrootDir), while a pod that stays keeps reaching its far-end peer.

// store is a state directory of the test's own: removing it is the loss.
type store struct{ dir string }

func newStore(t *testing.T) store {
	s := store{filepath.Join(t.TempDir(), "qinq")}
	// qinq's namespace of the store goes with the test, as with a reboot.
	t.Cleanup(func() {
		mounts, _ := filepath.Glob(filepath.Join(s.dir, "host-*", "netns"))
		for _, m := range mounts {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
	return s
}

func (s store) env() testenv.InvokeOption { return testenv.ExtraEnv("QINQ_STATE_DIR=" + s.dir) }

// id is the store's identity, "" if it has none.
func (s store) id() string {
	data, _ := os.ReadFile(filepath.Join(s.dir, "store-id"))
	return strings.TrimSpace(string(data))
}

// chainVLANs are the VLAN links of node n's chains under store s: in the
// node's namespace and in the store's namespace of qinq's.
func (s store) chainVLANs(t *testing.T, n *testenv.Node) map[string]*netlink.Vlan {
	t.Helper()
	out := testenv.VLANs(t, n.NS)
	if o, err := ns.GetNS(filepath.Join(s.dir, filepath.Base(scopeDir(t, n)), "netns")); err == nil {
		defer o.Close()
		maps.Copy(out, testenv.VLANs(t, o))
	}
	return out
}

// otherMountNS runs the plugin in a mount namespace of its own with a
// fresh tmpfs on /run, so it sees no /run/qinq of anybody else (its
// QINQ_STATE_DIR is dropped: the default /run/qinq). The container's netns
// directory is bound back from PID 1's view, as a thick Multus daemon
// mounts the host's netns directory.
func otherMountNS(t *testing.T) testenv.InvokeOption {
	script := `#!/bin/sh
unset QINQ_STATE_DIR
exec unshare -m /bin/sh -c '
set -e
mount --make-rprivate /
if [ -n "$CNI_NETNS" ]; then
	d=$(readlink -f "$(dirname "$CNI_NETNS")")
	keep=$(mktemp -d)
	mount -o rbind "$d" "$keep"
fi
mount -t tmpfs run /run
if [ -n "$CNI_NETNS" ]; then
	mkdir -p "$d"
	mount -o move "$keep" "$d"
fi
exec "$0"' ` + env.Plugin + "\n"
	path := filepath.Join(t.TempDir(), "qinq-own-run")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return testenv.Binary(path)
}

// admin runs qinq-admin on node n with store s and returns its output.
func admin(t *testing.T, n *testenv.Node, s store, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.Root, "bin", "qinq-admin"), args...)
	cmd.Env = append(os.Environ(), "QINQ_STATE_DIR="+s.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := n.Run(cmd)
	t.Logf("qinq-admin %s:\n%s", strings.Join(args, " "), out.String())
	return out.String(), err
}

// lossCase is one kind of endpoint: how two pods share an S-link on node
// a, and the peers on node b they talk to.
type lossCase struct {
	name string
	// pod is the config of node a's i-th pod (0, 1: before the loss; 2:
	// after it), peer the config of its peer on node b.
	pod, peer func(i int) testenv.Conf
	// shared are the host links the pods share on node a.
	shared []string
	// old: the first two pods were made by the previous release (links
	// marked without a store), then the node was upgraded.
	old bool
}

var lossCases = []lossCase{
	{
		// vlan endpoints: one C-VLAN per pod on a shared S-link; the third
		// pod takes the C-VLAN the first one freed.
		name:   "vlan",
		pod:    func(i int) testenv.Conf { return qinq(300, 10+i%2).WithStaticIP(fmt.Sprintf("10.30.%d.1/24", i%2)) },
		peer:   func(i int) testenv.Conf { return qinq(300, 10+i%2).WithStaticIP(fmt.Sprintf("10.30.%d.9/24", i%2)) },
		shared: []string{"wire0.300"},
	},
	{
		// macvlan endpoints: all pods on one shared C-link on the S-link.
		name: "macvlan",
		pod: func(i int) testenv.Conf {
			return shared("macvlan", 301, 10).WithStaticIP(fmt.Sprintf("10.31.0.%d/24", i+1))
		},
		peer:   func(int) testenv.Conf { return qinq(301, 10).WithStaticIP("10.31.0.9/24") },
		shared: []string{"wire0.301", "wire0.301.10"},
	},
	{
		name: "macvlan-made-by-the-previous-release",
		pod: func(i int) testenv.Conf {
			return shared("macvlan", 302, 10).WithStaticIP(fmt.Sprintf("10.32.0.%d/24", i+1))
		},
		peer:   func(int) testenv.Conf { return qinq(302, 10).WithStaticIP("10.32.0.9/24") },
		shared: []string{"wire0.302", "wire0.302.10"},
		old:    true,
	},
}

func peerIP(c testenv.Conf) string {
	ips := c["ipam"].(map[string]any)["addresses"].([]map[string]string)
	ip, _, _ := strings.Cut(ips[0]["address"], "/")
	return ip
}

func TestStateLoss_DELADDAndGCAfterTheStateDirectoryIsRemovedKeepTheOtherPodOnline(t *testing.T) {
	for _, lc := range lossCases {
		t.Run(lc.name, func(t *testing.T) { testStateLoss(t, lc) })
	}
}

func testStateLoss(t *testing.T, lc lossCase) {
	p := newPair(t, 1500)
	s := newStore(t)
	pods := []*testenv.Container{testenv.NewContainer(t), testenv.NewContainer(t)}
	peers := map[string]*testenv.Container{}
	peerOf := func(i int) *testenv.Container {
		cf := lc.peer(i)
		ip := peerIP(cf)
		if peers[ip] == nil {
			peers[ip] = testenv.NewContainer(t)
			p.b.Add(cf, peers[ip], "net1", s.env())
		}
		return peers[ip]
	}
	for i, c := range pods {
		opts := []testenv.InvokeOption{s.env()}
		if lc.old {
			opts = append(opts, format1Release(t))
		}
		p.a.Add(lc.pod(i), c, "net1", opts...)
		peerOf(i)
	}
	stays := pods[1]
	online := func(when string) {
		t.Helper()
		if err := testenv.Echo(t, stays, peerOf(1), peerIP(lc.peer(1)), 1400); err != nil {
			t.Fatalf("%s: the pod that stays lost its far-end peer: %v", when, err)
		}
	}
	sharedUp := func(when string) {
		t.Helper()
		vlans := s.chainVLANs(t, p.a)
		for _, name := range lc.shared {
			if _, ok := vlans[name]; !ok {
				t.Fatalf("%s: shared link %s is gone (host VLANs now %v)", when, name, slices.Sorted(maps.Keys(vlans)))
			}
		}
	}
	online("before the loss")
	before := s.id()

	removeAllBut(t, s.dir) // qinq's namespace, where the chain is, stays mounted
	p.a.Del(lc.pod(0), pods[0], "net1", s.env())
	sharedUp("DEL of one pod after the loss")
	online("DEL of one pod after the loss")
	if after := s.id(); after == "" || after == before {
		t.Fatalf("the store kept its identity %s after its directory was removed", after)
	}
	if left := containerLinks(t, pods[0]); len(left) != 0 {
		t.Errorf("DEL after the loss left %v in the pod: its endpoint is on the chain, qinq's", left)
	}

	fresh := testenv.NewContainer(t)
	p.a.Add(lc.pod(2), fresh, "net1", s.env())
	if err := testenv.Echo(t, fresh, peerOf(2), peerIP(lc.peer(2)), 1400); err != nil {
		t.Fatalf("a pod added after the loss: %v", err)
	}
	p.a.Del(lc.pod(2), fresh, "net1", s.env())
	sharedUp("ADD and DEL of a new pod after the loss")
	online("ADD and DEL of a new pod after the loss")

	other := testenv.QinQ("1.1.0", "qinq-other").OnMaster("wire0", 399, 10)
	if err := gcWith(p.a, other, s.env()); err != nil {
		t.Fatalf("GC of another network: %v", err)
	}
	if err := gcWith(p.a, lc.pod(1), s.env(), stays); err != nil {
		t.Fatalf("GC of the pods' own network keeping the pod that stays: %v", err)
	}
	sharedUp("GC after the loss")
	online("GC after the loss")

	// The same calls from a mount namespace whose /run is its own: it sees
	// no namespace of qinq's, where this release's chain is, and could make
	// one only where it would vanish: its ADD is refused (50) and makes
	// nothing. A chain the previous release made is in the node's
	// namespace: the ADD finds it there.
	own := otherMountNS(t)
	p.a.Del(lc.pod(0), pods[0], "net1", own) // a repeated DEL, from elsewhere
	again := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", lc.pod(2), again, "net1", own)
	if lc.old {
		if err != nil {
			t.Fatalf("ADD from another mount namespace on the previous release's chain: %v", err)
		}
		if err := testenv.Echo(t, again, peerOf(2), peerIP(lc.peer(2)), 1400); err != nil {
			t.Fatalf("a pod added from another mount namespace: %v", err)
		}
	} else {
		testenv.WantCNIError(t, err, 50, "mount namespace")
		if left := containerLinks(t, again); len(left) != 0 {
			t.Fatalf("the refused ADD left %v in the pod", left)
		}
	}
	p.a.Del(lc.pod(2), again, "net1", own)
	if err := gcWith(p.a, other, own); err != nil {
		t.Fatalf("GC of another network from another mount namespace: %v", err)
	}
	sharedUp("ADD, DEL and GC from another mount namespace")
	online("ADD, DEL and GC from another mount namespace")
	if _, err := os.Stat(filepath.Join(s.dir, "store-id")); err != nil {
		t.Fatalf("the other mount namespace's calls must not touch this one's store: %v", err)
	}

	// The operator's side: what stacks on the S-link, then adoption.
	out, err := admin(t, p.a, s, "scan", lc.shared[0])
	if err != nil || !strings.Contains(out, fmt.Sprintf("netns %d", inode(t, stays.NetNSPath()))) {
		t.Fatalf("scan does not show the pod that stays (err %v)", err)
	}
	if _, err := admin(t, p.a, s, "clean", lc.shared[0]); err == nil {
		t.Fatal("clean deleted a link a pod is on")
	}
	sharedUp("a refused clean")
	if _, err := admin(t, p.a, s, "adopt", lc.shared[0]); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	for _, name := range lc.shared {
		if mark := s.chainVLANs(t, p.a)[name].Alias; !strings.Contains(mark, "owned by store "+s.id()+", deleted") {
			t.Fatalf("%s after adopt is marked %q, want the current store %s alone", name, mark, s.id())
		}
	}
	online("adopt")
	// The pod goes; its record was lost, so its adopted entry is dropped by
	// the next adopt, and the next GC then deletes the chain.
	p.a.Del(lc.pod(1), stays, "net1", s.env())
	if _, err := admin(t, p.a, s, "adopt", lc.shared[0]); err != nil {
		t.Fatalf("adopt once the pod is gone: %v", err)
	}
	if err := gcWith(p.a, lc.pod(1), s.env()); err != nil {
		t.Fatal(err)
	}
	left := s.chainVLANs(t, p.a)
	if len(left) != 0 {
		t.Fatalf("after adopt and GC: host links left %v", slices.Sorted(maps.Keys(left)))
	}
	t.Logf("%s: pod %s stayed online through DEL, ADD, DEL, GC after the loss and from another mount namespace; leaked by design until adopt: %v",
		lc.name, stays.ID, lc.shared)
}

func inode(t *testing.T, path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// gcWith runs GC of network c on n at 1.1.0 with opt, keeping the valid
// containers' net1.
func gcWith(n *testenv.Node, c testenv.Conf, opt testenv.InvokeOption, valid ...*testenv.Container) error {
	list := []map[string]string{}
	for _, v := range valid {
		list = append(list, map[string]string{"containerID": v.ID, "ifname": "net1"})
	}
	_, err := n.Invoke("GC", c.With("cniVersion", "1.1.0", "cni.dev/valid-attachments", list), nil, "", opt)
	return err
}

// A bridge's namespace bound in a mount namespace of the caller's own would
// vanish with that namespace, and every bridge pod with it: ADD from there
// is refused (code 50) and leaves nothing; the same ADD from the node's
// mount namespace works. (ip netns exec and Multus thick without chroot
// make such callers.)
func TestBridge_AnADDFromAMountNamespaceOfItsOwnIsRefusedNotLeftToVanish(t *testing.T) {
	p := newPair(t, 1500)
	conf := qinq(840, 10).With("containerLink", "bridge").WithStaticIP("10.84.0.1/24")
	pod := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", conf, pod, "net1", otherMountNS(t))
	testenv.WantCNIError(t, err, 50, "mount namespace", "ip netns exec")
	if links := containerLinks(t, pod); len(links) != 0 {
		t.Fatalf("the refused ADD left %v in the pod", links)
	}
	if left := chainVLANs(t, p.a); len(left) != 0 {
		t.Fatalf("the refused ADD left VLAN links on the node: %v", left)
	}
	p.a.Del(conf, pod, "net1", otherMountNS(t))
	p.a.Add(conf, pod, "net1")
	p.a.Del(conf, pod, "net1")
}

// removeAllBut removes dir's tree as an admin's rm -rf would: what cannot
// go (the bind mount of qinq's namespace: EBUSY) stays.
func removeAllBut(t *testing.T, dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Remove(p)
		}
		return nil
	})
	for i := 0; i < 8; i++ { // directories, deepest first, as far as they empty
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Remove(p)
			}
			return nil
		})
	}
}

// Bridge endpoints through a state loss: the pod that stays keeps its far
// end through a DEL, an ADD and DEL, and a GC after the loss; the chain and
// its bridge (in qinq's namespace, whose mount no rm can take) are kept.
func TestStateLoss_BridgePodsStayOnlineThroughDELADDAndGC(t *testing.T) {
	p := newPair(t, 1500)
	s := newStore(t)
	// The lost store's bridge is kept by design: its namespace goes with the
	// test, as with a reboot.
	t.Cleanup(func() {
		mounts, _ := filepath.Glob(filepath.Join(s.dir, "host-*", "netns"))
		for _, m := range mounts {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
	conf := func(i int) testenv.Conf {
		return shared("bridge", 303, 10).WithStaticIP(fmt.Sprintf("10.33.0.%d/24", i+1))
	}
	pods := []*testenv.Container{testenv.NewContainer(t), testenv.NewContainer(t)}
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(303, 10).WithStaticIP("10.33.0.9/24"), peer, "net1", s.env())
	for i, c := range pods {
		p.a.Add(conf(i), c, "net1", s.env())
	}
	online := func(when string) {
		t.Helper()
		if err := testenv.Echo(t, pods[1], peer, "10.33.0.9", 1400); err != nil {
			t.Fatalf("%s: the bridge pod that stays lost its far-end peer: %v", when, err)
		}
	}
	online("before the loss")
	removeAllBut(t, s.dir)
	p.a.Del(conf(0), pods[0], "net1", s.env())
	online("DEL of one pod after the loss")
	if _, ok := s.chainVLANs(t, p.a)["wire0.303"]; !ok {
		t.Fatal("the S-link went with a DEL after the loss")
	}
	fresh := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", conf(2), fresh, "net1", s.env())
	if err == nil {
		if err := testenv.Echo(t, fresh, peer, "10.33.0.9", 1400); err != nil {
			t.Fatalf("a bridge pod added after the loss: %v", err)
		}
	} else {
		t.Logf("ADD of a bridge pod on the lost store's bridge: %v", err)
	}
	p.a.Del(conf(2), fresh, "net1", s.env())
	online("ADD and DEL of a new pod after the loss")
	if err := gcWith(p.a, testenv.QinQ("1.1.0", "qinq-other").OnMaster("wire0", 398, 10), s.env()); err != nil {
		t.Fatalf("GC of another network: %v", err)
	}
	if err := gcWith(p.a, conf(1), s.env(), pods[1]); err != nil {
		t.Fatalf("GC keeping the pod that stays: %v", err)
	}
	online("GC after the loss")
}
