package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The kernel shows no upper devices across namespaces (sysfs upper_ links
// are per namespace, and no netlink attribute lists them), so what stacks
// on a host link is found from the other side: every network namespace's
// links, each naming its parent by IFLA_LINK and the parent's namespace by
// IFLA_LINK_NETNSID, an ID that namespace gives the host.

// netnsRef is one network namespace, by a path that opens it.
type netnsRef struct {
	path string
	ino  uint64
}

// upper is a link stacked on a host link.
type upper struct {
	ns     netnsRef // the namespace it lives in; ino 0: the host's own
	name   string
	index  int
	kind   string
	parent int // the host link's ifindex
}

func (u upper) String() string {
	where := "host"
	if u.ns.ino != 0 {
		where = fmt.Sprintf("netns %d (%s)", u.ns.ino, u.ns.path)
	}
	return fmt.Sprintf("%s %s (ifindex %d) in %s", u.kind, u.name, u.index, where)
}

// namespacePaths are where namespaces are found: qinq's own (by the
// store's path: its bridges and their uplinks live there), every process's,
// the ones iproute2 and the runtimes mount, and every nsfs mount this mount
// namespace shows (a runtime's own directory, another store's).
func namespacePaths(own string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	if own != "" {
		paths = append([]string{own}, paths...)
	}
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	return append(paths, nsfsMounts()...)
}

// nsfsMounts lists the mount points of namespaces (field 5 of mountinfo,
// file system type after the " - " separator).
func nsfsMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "nsfs" && len(fields) > 4 {
				out = append(out, unescapeMount(fields[4]))
			}
		}
	}
	return out
}

func unescapeMount(p string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(p)
}

// otherNamespaces lists every network namespace but self, once each (by
// device and inode).
func otherNamespaces(self netnsRef, own string) []netnsRef {
	seen := map[[2]uint64]bool{}
	var out []netnsRef
	for _, p := range namespacePaths(own) {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil {
			continue // a process that exited, a stale mount
		}
		id := [2]uint64{st.Dev, st.Ino}
		if seen[id] || st.Ino == self.ino {
			continue
		}
		seen[id] = true
		out = append(out, netnsRef{path: p, ino: st.Ino})
	}
	return out
}

func selfNamespace() (netnsRef, error) {
	p := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return netnsRef{}, err
	}
	return netnsRef{path: p, ino: st.Ino}, nil
}

// scanUppers finds every link, in every network namespace, whose parent is
// a link of the host (the namespace qinq-admin runs in): map from the
// parent's ifindex to what stacks on it. own is qinq's namespace ("" if the
// store has none).
func scanUppers(host netlinksafe.Handle, hostLinks []netlink.Link, own string) (map[int][]upper, []error) {
	out := map[int][]upper{}
	for _, l := range hostLinks {
		if a := l.Attrs(); a.ParentIndex > 0 && a.NetNsID < 0 {
			out[a.ParentIndex] = append(out[a.ParentIndex], upper{name: a.Name, index: a.Index, kind: l.Type(), parent: a.ParentIndex})
		}
	}
	self, err := selfNamespace()
	if err != nil {
		return out, []error{err}
	}
	selfFd, err := unix.Open(self.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out, []error{err}
	}
	defer unix.Close(selfFd)
	var errs []error
	for _, ns := range otherNamespaces(self, own) {
		ups, err := uppersIn(ns, selfFd)
		if err != nil {
			errs = append(errs, fmt.Errorf("netns %s: %w", ns.path, err))
		}
		for _, u := range ups {
			out[u.parent] = append(out[u.parent], u)
		}
	}
	return out, errs
}

// uppersIn lists ns's links whose parent is in the host's namespace.
func uppersIn(ns netnsRef, hostFd int) ([]upper, error) {
	fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	h, err := netlinksafe.NewHandleAt(netns.NsHandle(fd), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	hostID, err := h.GetNetNsIdByFd(hostFd)
	if err != nil || hostID < 0 {
		return nil, err // the host has no ID there: nothing there names it
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []upper
	for _, l := range links {
		if a := l.Attrs(); a.ParentIndex > 0 && a.NetNsID == hostID {
			out = append(out, upper{ns: ns, name: a.Name, index: a.Index, kind: l.Type(), parent: a.ParentIndex})
		}
	}
	return out, nil
}

// tree is a host link and everything stacked on it, in any namespace.
type tree struct {
	link netlink.Link
	// hosts are the host links of the tree, the root first: the shared
	// links (S-link, outer C-links) a lost store may have left.
	hosts []netlink.Link
	// pods are the links in other namespaces stacked on any of them, by
	// the host link they sit on.
	pods map[int][]upper
	// unscanned counts the namespaces that could not be read: what stacks
	// there is unknown.
	unscanned int
}

// subtree collects what stacks on root, directly or through host links.
func subtree(root netlink.Link, hostLinks []netlink.Link, uppers map[int][]upper) tree {
	byIndex := map[int]netlink.Link{}
	for _, l := range hostLinks {
		byIndex[l.Attrs().Index] = l
	}
	t := tree{link: root, pods: map[int][]upper{}}
	queue := []netlink.Link{root}
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		t.hosts = append(t.hosts, l)
		for _, u := range uppers[l.Attrs().Index] {
			if u.ns.ino == 0 {
				if h, ok := byIndex[u.index]; ok {
					queue = append(queue, h)
				}
				continue
			}
			t.pods[l.Attrs().Index] = append(t.pods[l.Attrs().Index], u)
		}
	}
	return t
}

// podsAbove lists the pods' links on host link l or on a host link above it.
func (t tree) podsAbove(l netlink.Link) []upper {
	var out []upper
	above := map[int]bool{l.Attrs().Index: true}
	for _, h := range t.hosts { // outermost first: parents precede children
		if above[h.Attrs().ParentIndex] {
			above[h.Attrs().Index] = true
		}
	}
	for idx, ups := range t.pods {
		if above[idx] {
			out = append(out, ups...)
		}
	}
	return out
}

// ownNamespace is the path of qinq's own network namespace of store path
// p: p when a namespace is bound there, "" when nothing is there (the store
// never made one). A file there that is no namespace is one bound where
// this mount namespace does not see it: its links (bridge uplinks) cannot
// be scanned, so the tree is unknown, an error.
func ownNamespace(p string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if os.IsNotExist(err) {
			return "", nil
		}
		return "", err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(p, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return "", fmt.Errorf("qinq's network namespace at %s is not visible from this mount namespace "+
			"(run qinq-admin in the node's: nsenter -t 1 -m): what stacks on the links there cannot be known", p)
	}
	return p, nil
}
