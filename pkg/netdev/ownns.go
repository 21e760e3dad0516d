package netdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Everything about qinq's own network namespace lives in this file: what it
// is (Own), where a store keeps it (OwnNSHome: the bind mount and the lock
// that serialises making it, laid out by pkg/record), how it is opened and
// made (OpenOwnNS: bound where the node's PID 1 sees it), and the sysctls
// that keep the node's stack out of it (HardenOwnNS, CheckOwnNS).

// Own is qinq's own network namespace and a netlink handle in it.
type Own struct {
	NS ns.NetNS
	H  netlinksafe.Handle
}

// OpenOwn opens the namespace n with a handle in it.
func OpenOwn(n ns.NetNS) (*Own, error) {
	h, err := netlinksafe.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		n.Close()
		return nil, cnierr.Internal("open netlink in qinq's network namespace", err)
	}
	return &Own{NS: n, H: h}, nil
}

// Close releases the handle and the namespace.
func (o *Own) Close() {
	o.H.Close()
	o.NS.Close()
}

// OwnNSHome is where a store keeps qinq's namespace: bound at Path, made
// under Lock (pkg/record's Store.OwnNS gives its layout, a contract).
type OwnNSHome struct {
	Path string
	Lock func() (unlock func(), err error)
}

// OpenOwnNS opens qinq's namespace at home with a handle in it. With make
// it is made when missing (OwnNS); without, a missing one is (nil, nil):
// nothing is in it.
func OpenOwnNS(home OwnNSHome, make bool) (*Own, error) {
	var n ns.NetNS
	var err error
	if make {
		n, err = OwnNS(home.Path, home.Lock)
	} else if n, err = ns.GetNS(home.Path); err != nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return OpenOwn(n)
}

// OwnNS opens qinq's own network namespace, bound at path, and makes it if
// there is none (or path is a plain file left from before a reboot). Bridges
// and the links they join live there, where the node's addresses, routes and
// netfilter rules do not exist: frames bridged there never traverse the
// node's iptables, whatever br_netfilter does in the node's namespace. lock
// serialises the making; it is taken only when the namespace is missing.
func OwnNS(path string, lock func() (func(), error)) (ns.NetNS, error) {
	if n, err := ns.GetNS(path); err == nil {
		return n, nil
	}
	unlock, err := lock()
	if err != nil {
		return nil, cnierr.Internal("lock qinq's network namespace", err)
	}
	defer unlock()
	if n, err := ns.GetNS(path); err == nil {
		return n, nil // made meanwhile
	}
	if err := makeNS(path); err != nil {
		return nil, cnierr.AsCNI("make qinq's network namespace at "+path, err)
	}
	n, err := ns.GetNS(path)
	if err != nil {
		return nil, cnierr.Internal("open qinq's network namespace", err)
	}
	return n, HardenOwnNS(n)
}

// makeNS binds a new network namespace at path where the node's init (PID 1)
// sees it: in PID 1's mount namespace when qinq can enter it (Multus thick
// runs qinq chrooted in a mount namespace of its own, with the node's PID 1
// visible), then checked to be what qinq itself opens at path; else in the
// caller's, refused (code 50) when PID 1 does not see it there.
func makeNS(path string) error {
	var made bool
	ino, err := onThread(true, func() (uint64, error) {
		if ino, err := nsInode(path); err == nil {
			return ino, nil // the node has one already: never bind over it
		}
		made = true
		return bindNewNS(path)
	})
	if errors.Is(err, errNoInitMountNS) {
		return makeNSHere(path)
	}
	if err != nil {
		return err
	}
	if seen, err := nsInode(path); err == nil && seen == ino {
		return nil
	}
	if made {
		_, _ = onThread(true, func() (uint64, error) { return 0, unbind(path) })
	}
	return cnierr.Unavailable("qinq's network namespace (its bridges and chain links), bound at %s in the node's mount namespace (PID 1's), "+
		"is not what this caller sees at %s: its root is not the node's / or does not receive the node's mounts (a mount namespace "+
		"of its own, as ip netns exec makes; a container without the node's / mounted HostToContainer, rslave: see deploy/multus-thick), "+
		"and a namespace bound there would vanish with it", path, path)
}

// makeNSHere binds the namespace in the caller's mount namespace, as when
// PID 1's cannot be entered, and keeps it only if PID 1 sees it there.
func makeNSHere(path string) error {
	if _, err := onThread(false, func() (uint64, error) { return bindNewNS(path) }); err != nil {
		return err
	}
	if !seenByInit(path) {
		_ = unbind(path)
		return cnierr.Unavailable("qinq's network namespace (its bridges and chain links) would be bound at %s in this caller's mount namespace only "+
			"(not the node's: PID 1's, which qinq cannot enter), and would vanish with it, taking every pod on it offline: run qinq "+
			"in the node's mount namespace or with the node's PID 1 visible and CAP_SYS_ADMIN (see docs/kubernetes.md, Multus thick)", path)
	}
	return nil
}

// errNoInitMountNS: PID 1's mount namespace cannot be entered (no hostPID,
// no CAP_SYS_ADMIN over it) or is already the caller's.
var errNoInitMountNS = errors.New("PID 1's mount namespace is not entered")

// bindNewNS makes a network namespace and binds it at path; it returns the
// namespace's inode. It runs on a thread of onThread: the thread is left in
// the new namespace.
func bindNewNS(path string) (uint64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	f.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		_ = os.Remove(path)
		return 0, fmt.Errorf("unshare: %w", err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(path)
		return 0, err
	}
	return nsInode(path)
}

// onThread runs fn on a thread of its own, entered into PID 1's mount
// namespace first if inInit. The thread stays locked and ends with its
// goroutine: no other goroutine ever runs in what fn changed (its network
// namespace, its mount namespace and root). setns into a mount namespace
// needs a thread that shares no fs_struct, hence the CLONE_FS unshare.
func onThread(inInit bool, fn func() (uint64, error)) (uint64, error) {
	type result struct {
		ino uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if inInit {
			if err := enterInitMountNS(); err != nil {
				done <- result{err: err}
				return
			}
		}
		ino, err := fn()
		done <- result{ino, err}
	}()
	r := <-done
	return r.ino, r.err
}

// enterInitMountNS moves the calling (locked) thread into PID 1's mount
// namespace, and so to the node's root; errNoInitMountNS when it cannot or
// when that namespace is already the thread's.
func enterInitMountNS() error {
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	init, err2 := os.Readlink("/proc/1/ns/mnt")
	if err1 != nil || err2 != nil || self == init {
		return errNoInitMountNS
	}
	fd, err := unix.Open("/proc/1/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errNoInitMountNS
	}
	defer unix.Close(fd)
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("%w: unshare CLONE_FS: %v", errNoInitMountNS, err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("%w: %v", errNoInitMountNS, err)
	}
	return nil
}

func unbind(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	_ = os.Remove(path)
	return err
}

// nsInode is the inode of the namespace bound at path (0 if none is).
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%s is not a namespace", path)
	}
	return st.Ino, nil
}

// seenByInit reports whether the node's init (PID 1) sees a mount at path:
// in its own mount namespace, or propagated there. A bind made in a mount
// namespace of the caller's own (ip netns exec, a container) otherwise ends
// with that namespace, and the network namespace with it.
func seenByInit(path string) bool {
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	init, err2 := os.Readlink("/proc/1/ns/mnt")
	if err1 == nil && err2 == nil && self == init {
		return true
	}
	data, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		// Field 5 is the mount point, octal-escaped (proc_pid_mountinfo(5)).
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMountinfo(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// ownNSSysctls are set in qinq's namespace each time a bridge is made there.
// bridge-nf-call-* default to 1 in every new namespace once br_netfilter is
// loaded (per namespace since 5.3): frames crossing a bridge would go through
// that namespace's netfilter and conntrack, one table for every tenant, whose
// addresses may overlap. IPv6 off: no link there gets an address.
var ownNSSysctls = []struct{ path, value string }{
	{"net/bridge/bridge-nf-call-iptables", "0"},
	{"net/bridge/bridge-nf-call-ip6tables", "0"},
	{"net/bridge/bridge-nf-call-arptables", "0"},
	{"net/ipv6/conf/all/disable_ipv6", "1"},
	{"net/ipv6/conf/default/disable_ipv6", "1"},
}

// HardenOwnNS sets ownNSSysctls in n; a sysctl the kernel does not have
// (br_netfilter not loaded, no IPv6) is skipped: what is absent does nothing.
func HardenOwnNS(n ns.NetNS) error {
	return n.Do(func(ns.NetNS) error {
		var errs []error
		for _, s := range ownNSSysctls {
			err := os.WriteFile("/proc/sys/"+s.path, []byte(s.value), 0o644)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("%s: %w", s.path, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return cnierr.Internal("set the sysctls of qinq's network namespace", err)
		}
		return nil
	})
}

// CheckOwnNS reports (code 101) a sysctl of n that is not what HardenOwnNS
// sets, e.g. bridge-nf-call-iptables back at 1 after br_netfilter was loaded.
func CheckOwnNS(n ns.NetNS) error {
	return n.Do(func(ns.NetNS) error {
		for _, s := range ownNSSysctls {
			data, err := os.ReadFile("/proc/sys/" + s.path)
			if err == nil && string(trimNL(data)) != s.value {
				return cnierr.CheckFailed("qinq's network namespace: %s is %s, expected %s", s.path, trimNL(data), s.value)
			}
		}
		return nil
	})
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
