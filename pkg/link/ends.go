// Package link is the kernel backend: it builds a planned stack of VLAN links
// (find-or-create the shared S-link, stack the C-links, create the innermost
// directly in the container), takes it down again, and checks it.
package link

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/stack"
)

// Ends holds netlink handles on the two namespaces a stack touches.
type Ends struct {
	// Links is where the master and the shared links live: the host, or the
	// container when the master is in the container (linkInContainer).
	Links netlinksafe.Handle
	// Container is the container's namespace; nil when it is gone (DEL).
	Container   *netlinksafe.Handle
	ContainerNS ns.NetNS
	// Scope names the namespace of Links for the reference store.
	Scope string
}

// Open opens the namespaces for an attachment. A missing netns is an error
// unless allowMissing (DEL), in which case Container stays nil.
func Open(netnsPath string, linkInContainer, allowMissing bool) (*Ends, error) {
	e := &Ends{}
	if netnsPath != "" {
		cns, err := ns.GetNS(netnsPath)
		switch {
		case err == nil:
			e.ContainerNS = cns
		case !allowMissing:
			return nil, cnierr.ContainerUnknown(netnsPath, err)
		}
	}
	if e.ContainerNS != nil {
		h, err := netlinksafe.NewHandleAt(netns.NsHandle(e.ContainerNS.Fd()), unix.NETLINK_ROUTE)
		if err != nil {
			e.Close()
			return nil, cnierr.Internal("open netlink in the container", err)
		}
		e.Container = &h
	}
	if linkInContainer {
		return e, e.useContainerForLinks(netnsPath)
	}
	return e, e.useHostForLinks()
}

func (e *Ends) useContainerForLinks(netnsPath string) error {
	// The scope is derived from the path, so DEL can find the references even
	// after the namespace is gone.
	e.Scope = containerScope(netnsPath)
	if e.Container != nil {
		e.Links = *e.Container
	}
	return nil
}

func (e *Ends) useHostForLinks() error {
	h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		e.Close()
		return cnierr.Internal("open netlink on the host", err)
	}
	e.Links = h
	if e.Scope, err = hostScope(); err != nil {
		e.Close()
	}
	return err
}

// hostScope names the scope of the namespace this process runs in.
func hostScope() (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()), &st); err != nil {
		return "", cnierr.Internal("identify the host network namespace", err)
	}
	return fmt.Sprintf("host-%d", st.Ino), nil
}

// containerScopePrefix starts the scopes of linkInContainer attachments.
const containerScopePrefix = "ctr-"

// containerScope names a container's scope by its netns path, so DEL finds
// the references even after the namespace is gone.
func containerScope(netnsPath string) string {
	h := fnv.New64a()
	h.Write([]byte(netnsPath))
	return fmt.Sprintf("%s%016x", containerScopePrefix, h.Sum64())
}

// HasLinks reports whether the links' namespace is reachable.
func (e *Ends) HasLinks() bool { return e.Links.Handle != nil }

// Close releases the handles.
func (e *Ends) Close() {
	if e.Container != nil {
		e.Container.Close()
	}
	if e.Links.Handle != nil && (e.Container == nil || e.Links.Handle != e.Container.Handle) {
		e.Links.Close()
	}
	if e.ContainerNS != nil {
		e.ContainerNS.Close()
	}
}

// IsHostNS reports whether path is the namespace this process runs in: a
// container netns must never be the host's own.
func IsHostNS(path string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(path, &a) != nil {
		return false
	}
	if syscall.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()), &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// tempName is a unique name for a link on its way into the container, so it
// never collides with a host link or with CNI_IFNAME before the rename.
func tempName() string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return tempPrefix + hex.EncodeToString(b)
}

const tempPrefix = "qq"

// isTempName recognises tempName's output: "qq" and 10 hex digits.
func isTempName(name string) bool {
	if len(name) != len(tempPrefix)+10 || name[:len(tempPrefix)] != tempPrefix {
		return false
	}
	_, err := hex.DecodeString(name[len(tempPrefix):])
	return err == nil
}

// Parent looks up the master in the links' namespace.
func (e *Ends) Parent(master string) (stack.Parent, error) {
	where := "the host network namespace"
	if e.Scope != "" && e.Scope[0] == 'c' {
		where = "the container network namespace (linkInContainer)"
	}
	if !e.HasLinks() {
		return stack.Parent{}, cnierr.InvalidConfig("master", "%q: %s is gone", master, where)
	}
	l, err := e.Links.LinkByName(master)
	if err != nil {
		return stack.Parent{}, cnierr.InvalidConfig("master", "%q: no such link in %s", master, where)
	}
	return stack.Parent{Name: master, MTU: l.Attrs().MTU}, nil
}
