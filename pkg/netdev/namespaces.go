// Package netdev is the link toolkit both backends use: netlink handles on
// the namespaces an attachment touches, find-or-create of owned shared VLAN
// links, creating a container link in the container under CNI_IFNAME, and
// the same retries, error codes and fault points for every kernel change.
package netdev

import (
	"fmt"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Namespaces holds netlink handles on the two namespaces an attachment
// touches.
type Namespaces struct {
	// Links is where the master and the chain live: the host, or the
	// container when the master is in the container (linkInContainer).
	Links netlinksafe.Handle
	// Container is the container's namespace; nil when it is gone (DEL).
	Container   *netlinksafe.Handle
	ContainerNS ns.NetNS
	// Own is qinq's namespace, where kernel mode makes chain links (nil:
	// none yet, or linkInContainer); MakeOwn makes it when a link is to be
	// made there. The caller that sets them closes Own.
	Own     *Own
	MakeOwn func() (*Own, error)
	// Host is the node's namespace (kernel mode), hostID its id in Own's.
	Host   netns.NsHandle
	hostID int
	// master is the master as Master last found it: one verb plans and
	// attaches on it, and a NIC's ifindex does not change under it.
	master netlink.Link
}

// Open opens the namespaces of an attachment. A missing netns is an error
// unless allowMissing (DEL), in which case Container stays nil.
func Open(netnsPath string, linkInContainer, allowMissing bool) (*Namespaces, error) {
	n := &Namespaces{Host: netns.None(), hostID: -1}
	if netnsPath != "" {
		cns, err := ns.GetNS(netnsPath)
		switch {
		case err == nil:
			n.ContainerNS = cns
		case !allowMissing:
			return nil, cnierr.ContainerUnknown(netnsPath, err)
		}
	}
	if n.ContainerNS != nil {
		h, err := netlinksafe.NewHandleAt(netns.NsHandle(n.ContainerNS.Fd()), unix.NETLINK_ROUTE)
		if err != nil {
			n.Close()
			return nil, cnierr.Internal("open netlink in the container", err)
		}
		n.Container = &h
	}
	if linkInContainer {
		if n.Container != nil {
			n.Links = *n.Container
		}
		return n, nil
	}
	// NETLINK_ROUTE only: the default handle also asks for XFRM, which some
	// kernels refuse.
	h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		n.Close()
		return nil, cnierr.Internal("open netlink on the host", err)
	}
	n.Links = h
	if n.Host, err = netns.Get(); err != nil {
		n.Close()
		return nil, cnierr.Internal("open the node's network namespace", err)
	}
	return n, nil
}

// HasLinks reports whether the links' namespace is reachable.
func (n *Namespaces) HasLinks() bool { return n.Links.Handle != nil }

// inContainer reports whether the links' namespace is the container's.
func (n *Namespaces) inContainer() bool {
	return n.Container != nil && n.Links.Handle == n.Container.Handle
}

// Close releases the handles.
func (n *Namespaces) Close() {
	if n.Container != nil {
		n.Container.Close()
	}
	if n.Links.Handle != nil && !n.inContainer() {
		n.Links.Close()
	}
	if n.ContainerNS != nil {
		n.ContainerNS.Close()
	}
	if n.Host.IsOpen() {
		n.Host.Close()
	}
}

// IsHostNS reports whether path is the namespace this thread runs in: a
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

// VethPeerIn reports whether host, a link in the host's namespace, is a veth
// whose other end is in the network namespace at netnsPath: the peer's
// namespace (the link-netnsid the kernel reports) must be that one, and the
// peer's index must name a veth there whose own peer is host. A port that
// prevResult names is only this attachment's when it passes.
func VethPeerIn(hostName, netnsPath string) (bool, error) {
	host, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return false, nil
	}
	if _, ok := host.(*netlink.Veth); !ok || host.Attrs().NetNsID < 0 {
		return false, nil
	}
	cns, err := ns.GetNS(netnsPath)
	if err != nil {
		return false, cnierr.ContainerUnknown(netnsPath, err)
	}
	defer cns.Close()
	id, err := netlink.GetNetNsIdByFd(int(cns.Fd()))
	if err != nil || id != host.Attrs().NetNsID {
		return false, nil
	}
	h, err := netlinksafe.NewHandleAt(netns.NsHandle(cns.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return false, cnierr.Internal("open netlink in the container", err)
	}
	defer h.Close()
	peer, err := h.LinkByIndex(host.Attrs().ParentIndex)
	if err != nil {
		return false, nil
	}
	_, isVeth := peer.(*netlink.Veth)
	return isVeth && peer.Attrs().ParentIndex == host.Attrs().Index && peer.Attrs().NetNsID >= 0, nil
}
