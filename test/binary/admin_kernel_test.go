//go:build kerneltest

package binary

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// qinq-admin clean of a lost store's S-link whose bridge uplink lives in
// qinq's namespace: refused from the node's mount namespace (the uplink is
// found through the store's path), and refused from a mount namespace that
// does not see the namespace's bind mount (there the old scan by mountinfo
// found no uplink and deleted the S-link under it). The bridge pod stays
// online through both.
func TestAdmin_CleanNeverDeletesAnS_LinkUnderABridgeUplink(t *testing.T) {
	p := newPair(t, 1500)
	s := newStore(t)
	nsPath := filepath.Join(s.dir, filepath.Base(scopeDir(t, p.a)), "netns")
	t.Cleanup(func() { syscall.Unmount(nsPath, syscall.MNT_DETACH) }) // the lost store's: kept by design
	conf := shared("bridge", 304, 10).WithStaticIP("10.34.0.1/24")
	pod, peer := testenv.NewContainer(t), testenv.NewContainer(t)
	p.b.Add(qinq(304, 10).WithStaticIP("10.34.0.9/24"), peer, "net1")
	p.a.Add(conf, pod, "net1", s.env())
	own, err := ns.GetNS(nsPath) // where the S-link and the uplink live
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Close() })
	removeAllBut(t, s.dir) // the store is lost; its namespace's mount stays
	stays := func(when string) {
		t.Helper()
		if _, ok := testenv.VLANs(t, own)["wire0.304"]; !ok {
			t.Fatalf("%s: the S-link under the bridge uplink was deleted", when)
		}
		if err := testenv.Echo(t, pod, peer, "10.34.0.9", 1400); err != nil {
			t.Fatalf("%s: the bridge pod lost its far end: %v", when, err)
		}
	}
	stays("before clean")

	out, err := admin(t, p.a, s, "clean", "wire0.304")
	if err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("clean from the node's mount namespace: err %v, want refused as in use", err)
	}
	stays("clean from the node's mount namespace")

	// The same from a mount namespace where the bind mount is gone (umount
	// succeeds there: it was there, and is no longer seen).
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`umount "$1" && exec "$2" clean wire0.304`, "sh", nsPath, filepath.Join(env.Root, "bin", "qinq-admin"))
	cmd.Env = append(os.Environ(), "QINQ_STATE_DIR="+s.dir)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = p.a.Run(cmd)
	t.Logf("qinq-admin clean without the namespace's mount:\n%s", buf.String())
	if err == nil || !strings.Contains(buf.String(), "not visible") {
		t.Fatalf("clean from a mount namespace without qinq's namespace: err %v, want refused as not visible", err)
	}
	stays("clean from a mount namespace without qinq's namespace")
	p.a.Del(conf, pod, "net1", s.env())
}
