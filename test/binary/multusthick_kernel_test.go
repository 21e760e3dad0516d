//go:build kerneltest

package binary

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// thickCaller runs the plugin as Multus thick's daemon runs its delegates
// (multus-daemonset-thick.yml, chrootDir "/hostroot"): in a mount namespace
// of its own (the daemon's container, its own tmpfs at /mnt here) with the
// node's / bound at /mnt/hostroot, chrooted there, with the node's PID 1
// visible (hostPID). propagation is what the manifest's volume gives the
// node's /: "rslave" (HostToContainer, the manifest's) or "rprivate" (none).
// Every call is a new mount namespace: a daemon restart between any two.
func thickCaller(t *testing.T, propagation string) testenv.InvokeOption {
	script := `#!/bin/sh
exec unshare -m --propagation slave /bin/sh -c '
set -e
mount -t tmpfs container /mnt
mkdir /mnt/hostroot
mount --rbind / /mnt/hostroot
mount --make-` + propagation + ` /mnt/hostroot
exec chroot /mnt/hostroot "$0"' ` + env.Plugin + "\n"
	path := filepath.Join(t.TempDir(), "multus-thick-exec")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return testenv.Binary(path)
}

// Under Multus thick's own manifest qinq runs chrooted into the node's / in
// the daemon's mount namespace: qinq binds its namespace in PID 1's mount
// namespace, which reaches the node and, through the rslave /hostroot, qinq
// itself. Bridge pods come up, outlive the caller's mount namespace (every
// call is a "restarted daemon"), and go with nothing left: no link in qinq's
// namespace, one mount of it on the node.
func TestBridge_MultusThickChrootedCallerBindsQinqsNamespaceOnTheNode(t *testing.T) {
	p := newPair(t, 1500)
	thick := thickCaller(t, "rslave")
	nsPath := filepath.Join(scopeDir(t, p.a), "netns")
	conf := func(i int) testenv.Conf {
		return shared("bridge", 851, 10).WithStaticIP(fmt.Sprintf("10.85.0.%d/24", i+1))
	}
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(851, 10).WithStaticIP("10.85.0.9/24"), peer, "net1")
	pods := []*testenv.Container{testenv.NewContainer(t), testenv.NewContainer(t)}
	first := p.a.Add(conf(0), pods[0], "net1", thick)
	p.a.Add(conf(1), pods[1], "net1", thick)
	if got := testenv.NodeMounts(t, nsPath); got != 1 {
		t.Fatalf("the node's init has %d mounts at %s, want 1 (qinq's namespace bound on the node)", got, nsPath)
	}
	for i, c := range pods { // every caller's mount namespace is gone by now
		if err := testenv.Echo(t, c, peer, "10.85.0.9", 1400); err != nil {
			t.Fatalf("pod %d, after its caller's mount namespace ended: %v", i, err)
		}
	}
	if err := p.a.Check(conf(0), pods[0], "net1", first, thick); err != nil {
		t.Fatalf("CHECK through a restarted daemon: %v", err)
	}
	for i, c := range pods {
		p.a.Del(conf(i), c, "net1", thick)
	}
	if left := ownNSLinks(t, p.a); len(left) != 0 {
		t.Fatalf("DEL left %v in qinq's namespace", left)
	}
	if left := testenv.VLANs(t, p.a.NS); len(left) != 0 {
		t.Fatalf("DEL left VLAN links on the node: %v", left)
	}
	if got := testenv.NodeMounts(t, nsPath); got != 1 {
		t.Fatalf("after the DELs the node's init has %d mounts at %s, want 1 (no leak)", got, nsPath)
	}
}

// Control: the same caller without the node's mounts propagating to its
// /hostroot. The mount qinq makes on the node would not be the namespace it
// then opens: refused with 50, and the mount is taken back from the node.
func TestBridge_MultusThickCallerWithoutPropagationIsRefused(t *testing.T) {
	p := newPair(t, 1500)
	nsPath := filepath.Join(scopeDir(t, p.a), "netns")
	conf := shared("bridge", 852, 10).WithStaticIP("10.85.2.1/24")
	pod := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", conf, pod, "net1", thickCaller(t, "rprivate"))
	testenv.WantCNIError(t, err, 50, "HostToContainer", "node's mount namespace")
	if got := testenv.NodeMounts(t, nsPath); got != 0 {
		t.Fatalf("the refused ADD left %d mounts at %s on the node", got, nsPath)
	}
	if links := containerLinks(t, pod); len(links) != 0 {
		t.Fatalf("the refused ADD left %v in the pod", links)
	}
	if left := testenv.VLANs(t, p.a.NS); len(left) != 0 {
		t.Fatalf("the refused ADD left VLAN links on the node: %v", left)
	}
}
