//go:build kerneltest

package conformance

import (
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// What containerd does, through libcni with the environment it sends
// (pkg/cri: IgnoreUnknown, then the K8S_* labels), as containerd #8303 and
// #12923 describe it: a DEL per pod up to three times, the later ones with
// an empty CNI_NETNS and, the cache entry gone, no prevResult; and a DEL
// after a failed ADD.

// containerdConf is the runtime configuration containerd builds for c.
func containerdConf(c *testenv.Container, netns string) *libcni.RuntimeConf {
	rt := c.RuntimeConf("net1")
	rt.NetNS = netns
	rt.Args = [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", "tenant-a"},
		{"K8S_POD_NAME", "router-" + c.ID},
		{"K8S_POD_INFRA_CONTAINER_ID", c.ID},
		{"K8S_POD_UID", "6f1e1bd4-9d6e-4c5b-a1e4-" + c.ID[:min(len(c.ID), 12)]},
	}
	return rt
}

func TestContainerd(t *testing.T) {
	spec(t, "DEL three times, the last two with an empty CNI_NETNS and no prevResult, succeeds and frees everything", func(t *testing.T) {
		for _, link := range []string{"vlan", "macvlan"} {
			t.Run(link, func(t *testing.T) {
				w, c := newWorld(t, 1)
				cn := w.Node.LibCNI()
				cf := qinq("1.1.0", 130, 10).With("containerLink", link).WithHostLocal(ipamDir, "10.43.0.0/24")
				empty := w.Snapshot()
				if _, err := cn.AddNetworkList(ctx, cf.AsList(t), containerdConf(c[0], c[0].NetNSPath())); err != nil {
					t.Fatalf("ADD: %v", err)
				}
				if cached, err := cn.GetNetworkListCachedResult(cf.AsList(t), containerdConf(c[0], "")); err != nil || cached == nil {
					t.Fatalf("libcni cached no result after ADD (%v): the first DEL would carry no prevResult", err)
				}
				for i, netns := range []string{c[0].NetNSPath(), "", ""} {
					if err := cn.DelNetworkList(ctx, cf.AsList(t), containerdConf(c[0], netns)); err != nil {
						t.Fatalf("DEL %d (CNI_NETNS %q): %v", i+1, netns, err)
					}
					if i == 0 {
						if cached, _ := cn.GetNetworkListCachedResult(cf.AsList(t), containerdConf(c[0], "")); cached != nil {
							t.Fatal("libcni kept its cache after DEL: the later DELs would have a prevResult")
						}
					}
				}
				w.Unchanged(empty)
			})
		}
	})

	spec(t, "a failed ADD, then containerd's cleanup DEL and its repeats, leave nothing and keep the other pod", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.Node.LibCNI()
		// A range of one address: the second pod's IPAM fails after its
		// links were made (macvlan on the shared C-link of the first).
		cf := qinq("1.1.0", 131, 10).With("containerLink", "macvlan").
			WithHostLocalRange(ipamDir, map[string]string{"subnet": "10.44.0.0/24", "rangeStart": "10.44.0.9", "rangeEnd": "10.44.0.9"})
		empty := w.Snapshot()
		if _, err := cn.AddNetworkList(ctx, cf.AsList(t), containerdConf(c[0], c[0].NetNSPath())); err != nil {
			t.Fatalf("ADD of the first pod: %v", err)
		}
		before := w.Snapshot()
		if _, err := cn.AddNetworkList(ctx, cf.AsList(t), containerdConf(c[1], c[1].NetNSPath())); err == nil {
			t.Fatal("ADD with an exhausted range succeeded")
		}
		for i, netns := range []string{c[1].NetNSPath(), "", ""} {
			if err := cn.DelNetworkList(ctx, cf.AsList(t), containerdConf(c[1], netns)); err != nil {
				t.Fatalf("cleanup DEL %d of the failed ADD (CNI_NETNS %q): %v", i+1, netns, err)
			}
		}
		w.Unchanged(before) // the first pod's links, address and record untouched; nothing of the second
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), containerdConf(c[0], c[0].NetNSPath())); err != nil {
			t.Fatalf("CHECK of the first pod after the second's cleanup: %v", err)
		}
		for _, netns := range []string{c[0].NetNSPath(), "", ""} {
			if err := cn.DelNetworkList(ctx, cf.AsList(t), containerdConf(c[0], netns)); err != nil {
				t.Fatalf("DEL of the first pod (CNI_NETNS %q): %v", netns, err)
			}
		}
		w.Unchanged(empty)
	})
}
