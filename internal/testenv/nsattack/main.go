// Command qinq-nsattack is a test-only attacker: a pod's process with
// CAP_NET_ADMIN that acts on the network namespaces the kernel gives it ids
// for. From its own links' link-netnsid it lists the namespaces they name
// (IFLA_TARGET_NETNSID), and theirs in turn, finds the node's master and a
// neighbour's link, deletes that link, and stacks an 802.1ad S-link on the
// master (IFLA_LINK + IFLA_LINK_NETNSID) with a C-link on top, in its own
// namespace. The kernel allows each call when the caller holds CAP_NET_ADMIN
// in the user namespace owning the target namespace. It reads one
// testenv.AttackRequest a line on stdin and writes one testenv.AttackReport
// a line, in whatever namespaces it was started in (internal/testenv,
// NewAttacker).
//
// "qinq-nsattack own-userns" starts that attacker in a network namespace
// owned by a user namespace of its own and prints its pid first.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/userns"
)

// maxNamespaces bounds the search: a test's world is a handful.
const maxNamespaces = 64

func main() {
	if len(os.Args) > 1 && os.Args[1] == "own-userns" {
		if err := launchInOwnUserNS(); err != nil {
			fmt.Fprintln(os.Stderr, "qinq-nsattack:", err)
			os.Exit(2)
		}
		return
	}
	serve()
}

func serve() {
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req testenv.AttackRequest
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "qinq-nsattack:", err)
			os.Exit(2)
		}
		if err := out.Encode(attack(req)); err != nil {
			os.Exit(2)
		}
	}
}

// nested holds the processes Nest started, until this one ends.
var nested []*exec.Cmd

// judge answers Nest and Below from this process's user namespace.
func judge(req testenv.AttackRequest) (rep testenv.AttackReport) {
	for _, path := range req.Below {
		rep.Below = append(rep.Below, errText(userns.Below(path)))
	}
	if !req.Nest {
		return rep
	}
	// Root here maps to root here: a user namespace one level down.
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	cmd := exec.Command("/proc/self/exe")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL,
		UidMappings: ids, GidMappings: ids, Credential: &syscall.Credential{Uid: 0, Gid: 0}}
	if _, err := cmd.StdinPipe(); err != nil { // kept open: it serves until this process ends
		rep.Err = err.Error()
		return rep
	}
	if err := cmd.Start(); err != nil {
		rep.Err = err.Error()
		return rep
	}
	nested = append(nested, cmd)
	rep.NestedPid = cmd.Process.Pid
	return rep
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// launchInOwnUserNS starts the attacker (this program, serving stdin) in a
// new user namespace and a network namespace it owns: root in it is host uid
// 100000, as Kubernetes maps a hostUsers: false pod. The kernel refuses a
// user namespace to a chrooted caller, and the test VM runs its tests
// chrooted: the launcher first takes PID 1's root (a no-op where they share
// one) and starts the attacker through a descriptor of its former root.
func launchInOwnUserNS() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	root, err := os.Open("/")
	if err != nil {
		return err
	}
	defer root.Close()
	if err := unix.Chroot("/proc/1/root"); err != nil {
		return fmt.Errorf("take PID 1's root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}
	// The former root is the child's fd 3 (its first ExtraFile) when it execs.
	cmd := exec.Command("/proc/self/fd/3" + exe)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = os.Stdin, os.Stdout, os.Stderr, []*os.File{root}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL,
		UidMappings: ids, GidMappings: ids, Credential: &syscall.Credential{Uid: 0, Gid: 0}}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the attacker in a user namespace of its own: %w", err)
	}
	fmt.Printf("%d\n", cmd.Process.Pid)
	return cmd.Wait()
}

// attacker records every call it makes.
type attacker struct {
	req testenv.AttackRequest
	rep testenv.AttackReport
}

func attack(req testenv.AttackRequest) testenv.AttackReport {
	if req.Nest || len(req.Below) > 0 {
		return judge(req)
	}
	a := &attacker{req: req, rep: testenv.AttackReport{Found: testenv.Found{Listed: map[int][]string{}, Node: -1, VictimNS: -1}}}
	a.search()
	if !req.Do {
		return a.rep
	}
	a.deleteVictim()
	a.stackOnMaster()
	return a.rep
}

func (a *attacker) step(what string, err error) error {
	s := testenv.AttackStep{What: what}
	if err != nil {
		s.Err = err.Error()
		var errno unix.Errno
		if errors.As(err, &errno) {
			s.Errno = unix.ErrnoName(errno)
		}
	}
	a.rep.Steps = append(a.rep.Steps, s)
	return err
}

// search lists, breadth first, every namespace an id leads to, starting
// from this namespace's own links; then the hinted ids not reached.
func (a *attacker) search() {
	own, err := netlink.LinkList()
	if a.step("list this namespace's links", err) != nil {
		return
	}
	queue := linkNetnsIDs(own)
	a.rep.Found.Seen = slices.Clone(queue)
	tried := map[int]bool{}
	for len(queue) > 0 && len(tried) < maxNamespaces {
		id := queue[0]
		queue = queue[1:]
		if tried[id] {
			continue
		}
		tried[id] = true
		queue = append(queue, a.list(id)...)
	}
	if h := a.req.Hints; h != nil {
		for _, id := range []int{h.Node, h.VictimNS} {
			if id >= 0 && !tried[id] {
				tried[id] = true
				a.list(id)
			}
		}
	}
}

// list dumps the links of the namespace this one calls id, notes the master
// and the victim there, and returns the ids its links lead to.
func (a *attacker) list(id int) []int {
	links, err := linksOf(id)
	if a.step(fmt.Sprintf("list the links of netns id %d (IFLA_TARGET_NETNSID)", id), err) != nil {
		return nil
	}
	f := &a.rep.Found
	for _, l := range links {
		f.Listed[id] = append(f.Listed[id], l.Attrs().Name)
		if f.Node < 0 && is(l, a.req.Master) {
			f.Node = id
		}
		if f.VictimNS < 0 && is(l, a.req.Victim) {
			f.VictimNS = id
		}
	}
	return linkNetnsIDs(links)
}

func is(l netlink.Link, ref testenv.LinkRef) bool {
	return ref.Name != "" && l.Attrs().Name == ref.Name && l.Attrs().Index == ref.Index
}

// linkNetnsIDs are the ids links' link-netnsids give. A link of another
// namespace whose peer has no id here says NETNSA_NSID_NOT_ASSIGNED (-1,
// read back unsigned as 4294967295 on 5.10): no id.
func linkNetnsIDs(links []netlink.Link) []int {
	var ids []int
	for _, l := range links {
		if id := l.Attrs().NetNsID; id >= 0 && id <= math.MaxInt32 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// linksOf is RTM_GETLINK with IFLA_TARGET_NETNSID: the links of another
// namespace, their link-netnsids given as this namespace's ids.
func linksOf(id int) ([]netlink.Link, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(id))))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil && !errors.Is(err, nl.ErrDumpInterrupted) {
		return nil, err
	}
	var out []netlink.Link
	for _, m := range msgs {
		l, err := netlink.LinkDeserialize(nil, m)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// pick is the id found, else the hinted one, else -1.
func pick(found int, hint func(*testenv.Found) int, h *testenv.Found) int {
	if found < 0 && h != nil {
		return hint(h)
	}
	return found
}

// deleteVictim is RTM_DELLINK of the victim's ifindex in its namespace.
func (a *attacker) deleteVictim() {
	id := pick(a.rep.Found.VictimNS, func(h *testenv.Found) int { return h.VictimNS }, a.req.Hints)
	what := fmt.Sprintf("delete %s (ifindex %d) in netns id %d", a.req.Victim.Name, a.req.Victim.Index, id)
	if id < 0 {
		a.step(what, errors.New("the victim's namespace was not found"))
		return
	}
	req := nl.NewNetlinkRequest(unix.RTM_DELLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(a.req.Victim.Index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(id))))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	a.step(what, err)
}

// stackOnMaster makes, in this namespace, an 802.1ad S-link on the node's
// master and the C-link on it, addressed and up.
func (a *attacker) stackOnMaster() {
	id := pick(a.rep.Found.Node, func(h *testenv.Found) int { return h.Node }, a.req.Hints)
	sName, cName := fmt.Sprintf("atk%d", a.req.SVlan), fmt.Sprintf("atk%d.%d", a.req.SVlan, a.req.CVlan)
	what := fmt.Sprintf("make S-link %s: 802.1ad %d on %s (ifindex %d) in netns id %d (IFLA_LINK_NETNSID)", sName, a.req.SVlan, a.req.Master.Name, a.req.Master.Index, id)
	if id < 0 {
		a.step(what, errors.New("the node's namespace was not found"))
		return
	}
	if a.step(what, newSLink(sName, a.req.Master.Index, id, a.req.SVlan)) != nil {
		return
	}
	if a.step(fmt.Sprintf("make C-link %s: 802.1Q %d on %s, %s, up", cName, a.req.CVlan, sName, a.req.Addr), newCLink(sName, cName, a.req.CVlan, a.req.Addr)) == nil {
		a.rep.CLink = cName
	}
}

// newSLink is RTM_NEWLINK of a VLAN link whose lower link is ifindex in the
// namespace this one calls netnsID: netlink's Vlan has no IFLA_LINK_NETNSID.
func newSLink(name string, ifindex, netnsID, vid int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	req.AddData(nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(uint32(ifindex))))
	req.AddData(nl.NewRtAttr(unix.IFLA_LINK_NETNSID, nl.Uint32Attr(uint32(netnsID))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("vlan"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_VLAN_ID, nl.Uint16Attr(uint16(vid)))
	data.AddRtAttr(nl.IFLA_VLAN_PROTOCOL, htons(unix.ETH_P_8021AD))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

func htons(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func newCLink(sName, cName string, vid int, addr string) error {
	s, err := netlink.LinkByName(sName)
	if err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex = cName, s.Attrs().Index
	c := &netlink.Vlan{LinkAttrs: attrs, VlanId: vid, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
	if err := netlink.LinkAdd(c); err != nil {
		return err
	}
	ip, ipnet, err := net.ParseCIDR(addr)
	if err != nil {
		return err
	}
	ipnet.IP = ip
	if err := netlink.AddrAdd(c, &netlink.Addr{IPNet: ipnet}); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(s); err != nil {
		return err
	}
	return netlink.LinkSetUp(c)
}
