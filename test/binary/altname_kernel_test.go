//go:build kerneltest

package binary

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// withAltname gives the node's wire0 the altname alt.
func withAltname(t *testing.T, n *testenv.Node, alt string) {
	t.Helper()
	n.Do(func() error {
		l, err := netlink.LinkByName("wire0")
		if err != nil {
			return err
		}
		return netlink.LinkAddAltName(l, alt)
	})
}

// userKeys lists the keys the store of n records users under, and the
// master locks it holds.
func userKeys(t *testing.T, n *testenv.Node) (keys, locks []string) {
	t.Helper()
	for _, dir := range []string{"links", "locks"} {
		entries, _ := os.ReadDir(filepath.Join(scopeDir(t, n), dir))
		for _, e := range entries {
			switch {
			case dir == "links":
				keys = append(keys, e.Name())
			case e.Name() != ":netns.lock": // making qinq's namespace, no master's
				locks = append(locks, e.Name())
			}
		}
	}
	return keys, locks
}

// One NIC, one key: a network naming wire0's altname and one naming wire0
// share one S-link, one users' list and one set of locks; the last DEL, under
// either name, deletes the S-link only when both are gone.
func TestAltname_ANetworkNamingTheAltnameSharesTheChainOfTheName(t *testing.T) {
	for _, order := range []string{"altname pod first", "name pod first"} {
		t.Run(order, func(t *testing.T) {
			p := newPair(t, 1500)
			withAltname(t, p.a, "uplink-alt0")
			byAlt := shared("macvlan", 160, 10).With("master", "uplink-alt0")
			byName := shared("macvlan", 160, 20)
			podAlt := podsOn(t, p.a, byAlt, "10.160.10", 1)[0]
			podName := podsOn(t, p.a, byName, "10.160.20", 1)[0]
			peerAlt, peerName := testenv.NewContainer(t), testenv.NewContainer(t)
			p.b.Add(qinq(160, 10).WithStaticIP("10.160.10.9/24"), peerAlt, "net1")
			p.b.Add(qinq(160, 20).WithStaticIP("10.160.20.9/24"), peerName, "net1")
			if n := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 160); n != 1 {
				t.Fatalf("%d S-links for S-VLAN 160 on the node, want 1", n)
			}
			keys, locks := userKeys(t, p.a)
			if !slices.Contains(keys, "wire0:88a8.160") || slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "uplink") }) {
				t.Fatalf("users recorded under %v: want the S-link's users under wire0:88a8.160 only", keys)
			}
			if entries, _ := os.ReadDir(filepath.Join(scopeDir(t, p.a), "links", "wire0:88a8.160")); len(entries) != 2 {
				t.Fatalf("the S-link has %d users recorded, want both pods", len(entries))
			}
			// The master's lock and the links' locks, all under the name.
			if !slices.Contains(locks, "wire0.lock") || slices.ContainsFunc(locks, func(l string) bool {
				return l != "wire0.lock" && !strings.HasPrefix(l, "wire0:")
			}) {
				t.Fatalf("locks %v: want wire0.lock and wire0's links' only", locks)
			}
			first, second := []any{byAlt, podAlt}, []any{byName, podName}
			stays, staysPeer, staysIP := podName, peerName, "10.160.20.9"
			if order == "name pod first" {
				first, second = second, first
				stays, staysPeer, staysIP = podAlt, peerAlt, "10.160.10.9"
			}
			p.a.Del(first[0].(testenv.Conf), first[1].(*testenv.Container), "net1")
			if n := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 160); n != 1 {
				t.Fatalf("the first DEL (%s) took the S-link another pod uses", order)
			}
			if err := testenv.Echo(t, stays, staysPeer, staysIP, 1496); err != nil {
				t.Fatalf("the pod that stays, after the other's DEL: %v", err)
			}
			p.a.Del(second[0].(testenv.Conf), second[1].(*testenv.Container), "net1")
			assertClean(t, p.a, "", podAlt, podName)
		})
	}
}

// The policy's masters match the NIC's name and every altname of it.
func TestAltname_ThePolicyGrantsTheNICUnderAnyOfItsNames(t *testing.T) {
	p := newPair(t, 1500)
	withAltname(t, p.a, "uplink-alt1")
	grant := func(master string) testenv.InvokeOption {
		etc := t.TempDir()
		policy := `{"version":1,"noNamespace":{"masters":["` + master + `"],"sVlans":["161"],"cVlans":["10"],"containerLinks":["macvlan"]}}`
		if err := os.WriteFile(filepath.Join(etc, "policy.json"), []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
		return testenv.ExtraEnv("QINQ_ETC_DIR=" + etc)
	}
	for _, c := range []struct{ granted, named string }{{"wire0", "uplink-alt1"}, {"uplink-alt1", "wire0"}} {
		pod := testenv.NewContainer(t)
		cf := shared("macvlan", 161, 10).With("master", c.named).WithStaticIP("10.161.0.1/24")
		p.a.Add(cf, pod, "net1", grant(c.granted))
		p.a.Del(cf, pod, "net1", grant(c.granted))
	}
	// Control: a grant of another name refuses.
	pod := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", shared("macvlan", 161, 10).With("master", "uplink-alt1"), pod, "net1", grant("wire9"))
	testenv.WantCNIError(t, err, 102, "masters")
	assertClean(t, p.a, "", pod)
}

// A release before masters were resolved marked a link it made through an
// altname under that name's key, and recorded its users there. When this
// release joins the link under the resolved key, neither store can count all
// users, so the link is marked as many stores' and kept by every DEL: a leak
// for qinq-admin, never an outage of the other key's pods. Control: the
// same pods on a link marked under the resolved key leave nothing.
func TestAltname_ALinkMarkedUnderAnAltnameIsKeptByEveryDEL(t *testing.T) {
	for _, oldMark := range []bool{false, true} {
		t.Run(map[bool]string{false: "control", true: "altname-marked"}[oldMark], func(t *testing.T) {
			p := newPair(t, 1500)
			withAltname(t, p.a, "uplink-alt2")
			first := shared("macvlan", 162, 10).WithStaticIP("10.162.10.1/24")
			second := shared("macvlan", 162, 20).WithStaticIP("10.162.20.1/24")
			pod1, pod2 := testenv.NewContainer(t), testenv.NewContainer(t)
			p.a.Add(first, pod1, "net1")
			if oldMark {
				remark(t, p.a, "wire0.162", "key=wire0:", "key=uplink-alt2:")
			}
			p.a.Add(second, pod2, "net1")
			alias := chainAlias(t, p.a, "wire0.162")
			if many := strings.Contains(alias, "store "+netdevManyStores+","); many != oldMark {
				t.Fatalf("the S-link's mark after the second ADD is %q: many stores' %v, want %v", alias, many, oldMark)
			}
			p.a.Del(second, pod2, "net1")
			p.a.Del(first, pod1, "net1")
			if !oldMark {
				assertClean(t, p.a, "", pod1, pod2)
				return
			}
			if n := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 162); n != 1 {
				t.Fatalf("%d S-links for S-VLAN 162 after both DELs: a link marked under another key must stay", n)
			}
			t.Logf("kept after both DELs, marked %q", chainAlias(t, p.a, "wire0.162"))
		})
	}
}

// netdevManyStores is the mark's store list when no store can count the
// link's users (pkg/netdev ManyStores; the owner-mark contract).
const netdevManyStores = "*"

// chainAlias reads the owner mark of the chain link name on n.
func chainAlias(t *testing.T, n *testenv.Node, name string) string {
	t.Helper()
	l, err := testenv.LinkByName(chainNS(t, n, name), name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Alias
}

// remark rewrites old to new in the owner mark of the chain link name.
func remark(t *testing.T, n *testenv.Node, name, old, new string) {
	t.Helper()
	alias := chainAlias(t, n, name)
	if !strings.Contains(alias, old) {
		t.Fatalf("the mark %q of %s holds no %q", alias, name, old)
	}
	testenv.InNS(t, chainNS(t, n, name), func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		return netlink.LinkSetAlias(l, strings.Replace(alias, old, new, 1))
	})
}
