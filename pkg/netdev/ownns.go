package netdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

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

// makeNS binds a new network namespace at path. The thread that made it
// stays locked and ends with its goroutine, so no other goroutine ever runs
// in the new namespace.
func makeNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		done <- unix.Mount(self, path, "none", unix.MS_BIND, "")
	}()
	if err := <-done; err != nil {
		_ = os.Remove(path)
		return err
	}
	if !seenByInit(path) {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return cnierr.Unavailable("qinq's network namespace (its bridges and chain links) would be bound at %s in this caller's mount namespace only "+
			"(not the node's: PID 1's), and would vanish with it, taking every pod on it offline: run qinq in the node's mount namespace "+
			"(nsenter --net rather than ip netns exec; see docs/kubernetes.md, Multus thick)", path)
	}
	return nil
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
