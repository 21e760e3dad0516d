package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/record"
)

const store = "store-a"

func vlanLink(name string, index, parent int, alias string) netlink.Link {
	return &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index, ParentIndex: parent, Alias: alias, NetNsID: -1}}
}

func mark(stores ...string) string { return netdev.Owner{Stores: stores, Key: "eth1:88a8.100"}.Alias() }

// chain is eth1 (1) with an S-link (2) and what the test puts on it.
func chain(sAlias string, more ...netlink.Link) (netlink.Link, []netlink.Link) {
	s := vlanLink("eth1.100", 2, 1, sAlias)
	return s, append([]netlink.Link{&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "eth1", Index: 1, NetNsID: -1}}, s}, more...)
}

func unused(string) (record.Usage, error) { return record.Unused, nil }

func wantRefused(t *testing.T, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("clean allowed; want it refused naming %v", words)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("refusal %q does not name %q", err, w)
		}
	}
}

func TestClean_AnS_LinkWithABridgeUplinkInQinqsNamespaceIsRefused(t *testing.T) {
	root, links := chain(mark("lost"))
	uplink := upper{ns: netnsRef{path: "/run/qinq/host-1/netns", ino: 77}, name: "qbrup", index: 5, kind: "vlan", parent: 2}
	tr := subtree(root, links, map[int][]upper{2: {uplink}})
	wantRefused(t, cleanable(tr, store, unused), "in use by 1 links")
	// Control: the same tree without the uplink may go.
	if err := cleanable(subtree(root, links, nil), store, unused); err != nil {
		t.Fatalf("an unused lost store's S-link: %v", err)
	}
}

// Chain links live in qinq's namespace with their bridge: an uplink there
// is a host link of the tree, and its bridge's ports are pods.
func TestClean_AnS_LinkWithABridgeUplinkBesideItIsRefused(t *testing.T) {
	up := vlanLink("qinqup", 3, 2, mark("lost"))
	up.Attrs().MasterIndex = 9
	root, links := chain(mark("lost"), up)
	uppers := map[int][]upper{2: {{name: "qinqup", index: 3, kind: "vlan", parent: 2}}}
	wantRefused(t, cleanable(subtree(root, links, uppers), store, unused), "in use", "qinqup", "bridge")
	up.Attrs().MasterIndex = 0 // control: the same C-link on no bridge goes with its S-link
	if err := cleanable(subtree(root, links, uppers), store, unused); err != nil {
		t.Fatalf("an unused lost store's C-link on no bridge: %v", err)
	}
}

func TestClean_AnS_LinkWithAnAdminsC_LinkOnItIsRefused(t *testing.T) {
	root, links := chain(mark("lost"), vlanLink("eth1.100.10", 3, 2, ""))
	uppers := map[int][]upper{2: {{name: "eth1.100.10", index: 3, kind: "vlan", parent: 2}}}
	wantRefused(t, cleanable(subtree(root, links, uppers), store, unused), "eth1.100.10", "would delete it")
	// Control: qinq's own C-link goes with its S-link.
	root, links = chain(mark("lost"), vlanLink("eth1.100.10", 3, 2, mark("lost")))
	if err := cleanable(subtree(root, links, uppers), store, unused); err != nil {
		t.Fatalf("qinq's C-link on an unused S-link: %v", err)
	}
}

func TestClean_RecordedUsersOrAnUnreadNamespaceRefuse(t *testing.T) {
	root, links := chain(mark("lost", store))
	tr := subtree(root, links, nil)
	inUse := func(string) (record.Usage, error) { return record.InUse, nil }
	wantRefused(t, cleanable(tr, store, inUse), "users recorded")
	tr.unscanned = 1
	wantRefused(t, cleanable(tr, store, unused), "could not be read")
}

func TestClean_TemporaryNamesAreCleansOnlyWhenThisStoresOrUnmarked(t *testing.T) {
	tmp := netdev.TempName()
	for _, c := range []struct {
		alias string
		ok    bool
	}{
		{"", true},                        // an ADD died before marking it
		{mark(store), true},               // this store's ADD (its lock is clean's)
		{mark("other"), false},            // another store's ADD, maybe running now
		{mark(store, "other"), false},     // shared with another store
		{"an admin's note", false},        // not qinq's alias
		{mark(netdev.LegacyStore), false}, // a release before store identities
	} {
		l := vlanLink(tmp, 2, 1, c.alias)
		err := cleanable(subtree(l, []netlink.Link{l}, nil), store, unused)
		if (err == nil) != c.ok {
			t.Errorf("%s with alias %q: clean allowed %v, want %v (%v)", tmp, c.alias, err == nil, c.ok, err)
		}
	}
	// A final name without a mark is an admin's link.
	wantRefused(t, cleanable(subtree(vlanLink("eth1.100", 2, 1, ""), nil, nil), store, unused), "never deleted")
}

func TestOwnNamespace_ByTheStoresPath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "netns")
	if got, err := ownNamespace(p); got != "" || err != nil {
		t.Fatalf("no namespace made: got %q, %v; want none", got, err)
	}
	// The mount point without the mount: bound where this mount namespace
	// does not see it.
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ownNamespace(p); err == nil || !strings.Contains(err.Error(), "not visible") {
		t.Fatalf("a mount point without its mount: %v, want refused as not visible", err)
	}
	if got, err := ownNamespace("/proc/self/ns/net"); got != "/proc/self/ns/net" || err != nil {
		t.Fatalf("a namespace: got %q, %v", got, err)
	}
}
