//go:build kerneltest

package binary

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/userns"
)

// A pod with CAP_NET_ADMIN attacks through the ids the kernel gives its
// network namespace for others (its link's link-netnsid, then theirs): it
// lists qinq's namespace and the node's, deletes a neighbour's link and
// stacks an 802.1ad S-link on the node's master, with a C-link into another
// customer's (S200, C20) on the far node. The pod is the attack program
// itself (bin/qinq-nsattack). In the host's user namespace, with NET_ADMIN
// alone, every step succeeds: the control. With its network namespace owned
// by a user namespace of its own (root in it, every capability there),
// every one of those calls is refused, while its own traffic over qinq works.
// For every container link and for OVS mode.

// usernsWorld is one node with the attacker pod and a neighbour, the far
// node with their peers and the other customer's host.
type usernsWorld struct {
	node, far *testenv.Node
	master    string
	conf      func(sVlan, cVlan int) testenv.Conf
	// places are where the neighbour's net1 may have its peer or lower
	// link: the node's namespace, qinq's (nil until made).
	places func(t *testing.T) []ns.NetNS
}

type usernsRow struct {
	name  string
	world func(t *testing.T) usernsWorld
}

func usernsRows() []usernsRow {
	kernel := func(link string) func(t *testing.T) usernsWorld {
		return func(t *testing.T) usernsWorld {
			p := newPair(t, 1500)
			return usernsWorld{node: p.a, far: p.b, master: "wire0",
				conf:   func(s, c int) testenv.Conf { return shared(link, s, c) },
				places: func(t *testing.T) []ns.NetNS { return []ns.NetNS{p.a.NS, ownNS(t, p.a)} }}
		}
	}
	ovs := func(t *testing.T) usernsWorld {
		o, br, far := bridgeWithUplink(t)
		return usernsWorld{node: o.Host, far: far, master: o.UplinkName(br),
			conf:   func(s, c int) testenv.Conf { return ovsConf(br, s, c) },
			places: func(*testing.T) []ns.NetNS { return []ns.NetNS{o.Host.NS} }}
	}
	return []usernsRow{
		{"bridge", kernel("bridge")}, {"vlan", kernel("vlan")}, {"macvlan", kernel("macvlan")},
		{"ipvlan", kernel("ipvlan")}, {"ovs", ovs},
	}
}

func TestUserNamespace_APodWithNetAdminReachesTheNodeOnlyWithoutOne(t *testing.T) {
	for _, row := range usernsRows() {
		for _, own := range []bool{false, true} {
			name := row.name + "/host-user-namespace (control)"
			if own {
				name = row.name + "/own-user-namespace"
			}
			t.Run(name, func(t *testing.T) { attackFromPod(t, row.world(t), own) })
		}
	}
}

// The addresses: the attacker's network, the neighbour's, and the other
// customer's, which the attacker's own C-link joins.
const (
	atkIP, atkPeerIP = "10.81.0.1", "10.81.0.2"
	nbIP, nbPeerIP   = "10.82.0.1", "10.82.0.2"
	custIP, custAtk  = "10.83.0.2", "10.83.0.1"
)

// usernsAttack is one attack and what it is judged by.
type usernsAttack struct {
	w                         usernsWorld
	a                         *testenv.Attacker
	nb, atkPeer, nbPeer, cust *testenv.Container
	victim                    testenv.LinkRef // the neighbour's peer or lower link
	victimNS                  ns.NetNS
	rep                       testenv.AttackReport
	req                       testenv.AttackRequest
	frames                    []testenv.Frame // on the far node's wire0 during the attack
}

func attackFromPod(t *testing.T, w usernsWorld, ownUserNS bool) {
	x := &usernsAttack{w: w, a: env.NewAttacker(t, ownUserNS)}
	atkConf, nbConf := w.conf(130, 10).WithStaticIP(atkIP+"/24"), w.conf(140, 10).WithStaticIP(nbIP+"/24")
	w.node.Add(atkConf, x.a.Pod, "net1")
	x.nb, x.atkPeer, x.nbPeer, x.cust = testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	w.node.Add(nbConf, x.nb, "net1")
	w.far.Add(qinq(130, 10).WithStaticIP(atkPeerIP+"/24"), x.atkPeer, "net1")
	w.far.Add(qinq(140, 10).WithStaticIP(nbPeerIP+"/24"), x.nbPeer, "net1")
	w.far.Add(qinq(200, 20).WithStaticIP(custIP+"/24"), x.cust, "net1")
	x.ownTrafficWorks(t, "before the attack")
	x.victim, x.victimNS = neighbourLink(t, x.nb, w.places(t))
	x.req = testenv.AttackRequest{Victim: x.victim, SVlan: 200, CVlan: 20, Addr: custAtk + "/24", Do: true,
		Master: testenv.LinkRef{Name: w.master, Index: testenv.Link(t, w.node.NS, w.master).Attrs().Index}}
	t.Logf("the neighbour's link: %s (ifindex %d); the node's master: %s (ifindex %d)", x.victim.Name, x.victim.Index, w.master, x.req.Master.Index)
	if ownUserNS {
		x.hint(t)
	}
	stop := w.far.Capture("wire0") // the far node's end of the wire, in every world
	x.rep = x.a.Attack(t, x.req)
	x.frames = stop()
	for _, s := range x.rep.Steps {
		t.Logf("attacker: %s: %s", s.What, cmpOr(s.Err, "done"))
	}
	if ownUserNS {
		x.assertRefused(t)
		x.ownTrafficWorks(t, "after the attack")
	} else {
		x.assertControlSucceeded(t)
	}
	w.node.Del(atkConf, x.a.Pod, "net1")
	w.node.Del(nbConf, x.nb, "net1")
}

// ownTrafficWorks: the attacker pod and the neighbour each reach their peer
// over qinq.
func (x *usernsAttack) ownTrafficWorks(t *testing.T, when string) {
	if err := testenv.Echo(t, x.a.Pod, x.atkPeer, atkPeerIP, 1496); err != nil {
		t.Errorf("%s, the attacker pod's own traffic over qinq: %v", when, err)
	}
	if err := testenv.Echo(t, x.nb, x.nbPeer, nbPeerIP, 1496); err != nil {
		t.Errorf("%s, the neighbour's traffic: %v", when, err)
	}
}

// hint gives the attacker the ids root finds in its netns, so that each
// call it is refused is made with the right target.
func (x *usernsAttack) hint(t *testing.T) {
	hints := x.a.Discover(t, x.req)
	t.Logf("found by root in the pod's netns: %+v", hints)
	if hints.Node < 0 || hints.VictimNS < 0 {
		t.Fatalf("root in the pod's netns did not find the node's namespace or the neighbour's link (%+v): the refusals would prove nothing", hints)
	}
	x.req.Hints = &hints
}

// neighbourLink is the link the neighbour's net1 hangs on, and the place
// holding it: down net1's lower links within the pod (OVS mode's C-link on
// the veth) to the first whose peer or lower link is elsewhere; the place is
// the one the pod's netns calls by that link's link-netnsid.
func neighbourLink(t *testing.T, nb *testenv.Container, places []ns.NetNS) (testenv.LinkRef, ns.NetNS) {
	l := testenv.Link(t, nb.NS, "net1")
	for depth := 0; l.Attrs().NetNsID < 0; depth++ {
		if depth == 3 || l.Attrs().ParentIndex == 0 {
			t.Fatalf("the neighbour's net1 hangs on no link outside its namespace (%s: lower ifindex %d)", l.Attrs().Name, l.Attrs().ParentIndex)
		}
		nb.Do(t, func() (err error) { l, err = netlink.LinkByIndex(l.Attrs().ParentIndex); return err })
	}
	parent, id := l.Attrs().ParentIndex, l.Attrs().NetNsID
	for _, where := range places {
		var got int
		if where != nil {
			nb.Do(t, func() (err error) { got, err = netlink.GetNetNsIdByFd(int(where.Fd())); return err })
		}
		if where != nil && got == id {
			testenv.InNS(t, where, func() (err error) { l, err = netlink.LinkByIndex(parent); return err })
			return testenv.LinkRef{Name: l.Attrs().Name, Index: parent}, where
		}
	}
	t.Fatalf("the neighbour's net1 hangs on ifindex %d in netns id %d, none of the places the test knows", parent, id)
	return testenv.LinkRef{}, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var attackTags = []testenv.Tag{testenv.Tag8021AD(200), testenv.Tag8021Q(20)}

// assertControlSucceeded: in the host's user namespace, NET_ADMIN alone
// found the node, deleted the neighbour's link and reached the other
// customer through the node's master.
func (x *usernsAttack) assertControlSucceeded(t *testing.T) {
	rep := x.rep
	if failed := rep.Failed(); len(failed) != 0 || rep.Found.Node < 0 || rep.Found.VictimNS < 0 || rep.CLink == "" {
		t.Fatalf("control: the attack must succeed from a pod in the host's user namespace, or the test proves nothing: failed %v, found %+v", failed, rep.Found)
	}
	if _, err := testenv.LinkByName(x.victimNS, x.victim.Name); err == nil {
		t.Errorf("control: the neighbour's %s is still there after the attacker deleted it", x.victim.Name)
	}
	if _, err := testenv.LinkByName(x.nb.NS, "net1"); err == nil {
		t.Errorf("control: the neighbour kept its net1 after its %s was deleted", x.victim.Name)
	}
	stop := x.w.far.Capture("wire0")
	if err := testenv.Echo(t, x.a.Pod, x.cust, custIP, 1000); err != nil {
		t.Errorf("control: the attacker's C-link did not reach the other customer's host (S200, C20): %v", err)
	}
	mac := testenv.Link(t, x.a.Pod.NS, rep.CLink).Attrs().HardwareAddr
	if n := countTagged(stop(), mac, attackTags); n == 0 {
		t.Error("control: no frame of the attacker's C-link crossed the wire as (802.1ad 200, 802.1Q 20)")
	}
	t.Logf("control: found the node as netns id %d and the neighbour's %s in id %d; deleted it; reached %s in (S200, C20) from the pod",
		rep.Found.Node, x.victim.Name, rep.Found.VictimNS, custIP)
}

// assertRefused: the pod sees its ids, and every call beyond its own
// namespace made with them (each id listed, the delete, the S-link) was
// refused with EACCES or EPERM; nothing changed, nothing crossed the wire.
func (x *usernsAttack) assertRefused(t *testing.T) {
	rep, h := x.rep, x.req.Hints
	if len(rep.Steps) == 0 || rep.Steps[0].Err != "" || len(rep.Found.Seen) == 0 {
		t.Fatalf("the pod must see its own links and their link-netnsid (the ids it would attack through): %+v", rep)
	}
	want := map[string]bool{}
	for _, id := range append(slices.Clone(rep.Found.Seen), h.Node, h.VictimNS) {
		want[fmt.Sprintf("list the links of netns id %d (IFLA_TARGET_NETNSID)", id)] = true
	}
	var others int
	for _, s := range rep.Steps[1:] {
		if s.Errno != "EACCES" && s.Errno != "EPERM" {
			t.Errorf("%s: %s, want refused with EACCES or EPERM", s.What, cmpOr(s.Err, "it worked"))
		}
		if !want[s.What] {
			others++
		}
		delete(want, s.What)
	}
	if len(want) != 0 || others != 2 || len(rep.Found.Listed) != 0 || rep.CLink != "" {
		t.Errorf("want each id listed, the delete and the S-link tried, each refused: not tried %v, %d other calls, listed %v", want, others, rep.Found.Listed)
	}
	if _, err := testenv.LinkByName(x.victimNS, x.victim.Name); err != nil {
		t.Errorf("the neighbour's %s is gone: %v", x.victim.Name, err)
	}
	if names := testenv.LinkNames(t, x.a.Pod.NS, "atk"); len(names) != 0 {
		t.Errorf("the attacker made links %v", names)
	}
	if n := countTagsNotFrom(x.frames, attackTags, testenv.Link(t, x.cust.NS, "net1").Attrs().HardwareAddr); n != 0 {
		t.Errorf("%d frames of a source other than the customer's host crossed the wire as (802.1ad 200, 802.1Q 20)", n)
	}
	t.Logf("own user namespace: %d calls refused, the neighbour's %s and the node untouched", len(rep.Steps)-1, x.victim.Name)
}

// countTagsNotFrom counts the frames carrying exactly tags from any source
// but src (the customer's host, which speaks in its VLAN on its own).
func countTagsNotFrom(fs []testenv.Frame, tags []testenv.Tag, src net.HardwareAddr) int {
	n := 0
	for _, f := range fs {
		if slices.Equal(f.Tags, tags) && f.Src.String() != src.String() {
			n++
		}
	}
	return n
}

// The policy: with userNamespace "required", a pod in the host's user
// namespace (its netns owned by qinq's own) is refused at ADD with 102
// naming userNamespace and nothing is made; one added before the admin
// required it fails CHECK with the same 102 and is deleted as ever; a pod
// with a user namespace of its own is admitted and reaches its peer.
func TestUserNamespace_PolicyRequiredRefusesAHostUsersPodAndAdmitsAUserNamespacedOne(t *testing.T) {
	etc := filepath.Join(t.TempDir(), "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	require := func(value string) {
		pol := `{"version": 1, "noNamespace": {"masters": ["wire0"], "sVlans": ["150"], "cVlans": ["10"], "containerLinks": ["bridge"], "userNamespace": "` + value + `"}}`
		if err := os.WriteFile(filepath.Join(etc, "policy.json"), []byte(pol), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := pair{newNode(t, testenv.NodeDirs(etc, t.TempDir())), newNode(t)}
	testenv.Wire(t, p.a, p.b, "wire0", 1500)
	cf := bridged(150, 10).WithStaticIP("10.84.0.1/24")

	require("required")
	refused := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", cf, refused, "net1")
	testenv.WantCNIError(t, err, 102, "policy: noNamespace.userNamespace: ", "qinq's own user namespace", "hostUsers: false")
	assertClean(t, p.a, "", refused)

	require("any")
	before := testenv.NewContainer(t)
	res := p.a.Add(cf, before, "net1")
	require("required")
	testenv.WantCNIError(t, p.a.Check(cf, before, "net1", res), 102, "noNamespace.userNamespace", "qinq's own user namespace")
	p.a.Del(cf, before, "net1")
	assertClean(t, p.a, "", before)

	pod, peer := env.NewAttacker(t, true).Pod, testenv.NewContainer(t)
	res = p.a.Add(cf, pod, "net1")
	p.b.Add(qinq(150, 10).WithStaticIP("10.84.0.2/24"), peer, "net1")
	if err := testenv.Echo(t, pod, peer, "10.84.0.2", 1496); err != nil {
		t.Fatalf("the admitted user-namespaced pod to its peer: %v", err)
	}
	if err := p.a.Check(cf, pod, "net1", res); err != nil {
		t.Errorf("CHECK of the admitted pod: %v", err)
	}
	p.a.Del(cf, pod, "net1")
	assertClean(t, p.a, "", pod)
}

// qinq nested, as in kind: its own user namespace is whatever it runs in.
// Seen from a process in a user namespace U1 (the attacker pod's, standing
// for qinq in a kind node), a netns owned by a user namespace below U1
// passes pkg/userns.Below; U1's own netns and one owned by the host's user
// namespace (above U1: the node's) do not. From the host's user namespace,
// the same netns two levels down passes too.
func TestUserNamespace_NestedQinqJudgesFromItsOwnUserNamespace(t *testing.T) {
	u1 := env.NewAttacker(t, true)
	rep := u1.Attack(t, testenv.AttackRequest{Nest: true})
	if rep.NestedPid == 0 {
		t.Fatalf("no process in a user namespace below U1: %s", rep.Err)
	}
	// The attacker's root is PID 1's; the test's root is its fd 3
	// (qinq-nsattack own-userns), where absolute symlinks do not lead.
	nodeNS, err := filepath.EvalSymlinks(newNode(t).NS.Path())
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{fmt.Sprintf("/proc/%d/ns/net", rep.NestedPid), "/proc/self/ns/net", "/proc/self/fd/3" + nodeNS}
	got := u1.Attack(t, testenv.AttackRequest{Below: paths}).Below
	t.Logf("seen from U1: below U1 %q; U1's own %q; the node's, above U1 %q", got[0], got[1], got[2])
	if len(got) != 3 || got[0] != "" || !strings.Contains(got[1], "qinq's own user namespace") || !strings.Contains(got[2], "outside the one qinq runs in") {
		t.Errorf("from U1: %q, want admitted, its own refused, the node's refused as outside", got)
	}
	for what, path := range map[string]string{"U1's": u1.Pod.NetNSPath(), "below U1": paths[0]} {
		if err := userns.Below(path); err != nil {
			t.Errorf("from the host's user namespace, the netns %s: %v, want admitted", what, err)
		}
	}
}
