package netdev

import (
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// LinkNames is what the kernel calls a link: its name and its altnames.
type LinkNames struct {
	Name     string
	AltNames []string
}

// ResolveLink asks the kernel for the link it finds under name, in the
// network namespace at netnsPath ("" for the caller's own): the kernel
// resolves altnames ("ip link property add dev eth1 altname uplink") in
// every lookup, so one NIC has several names and only its own identifies
// it. found is false when there is no such link (or no such namespace).
func ResolveLink(netnsPath, name string) (names LinkNames, found bool, err error) {
	h, err := handleIn(netnsPath)
	if err != nil || h == nil {
		return LinkNames{}, false, err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if IsGone(err) {
		return LinkNames{}, false, nil
	}
	if err != nil {
		return LinkNames{}, false, Error("find "+name, err)
	}
	return LinkNames{Name: l.Attrs().Name, AltNames: l.Attrs().AltNames}, true, nil
}

// handleIn is a netlink handle in the namespace at path ("": the caller's);
// nil when that namespace is gone.
func handleIn(path string) (*netlinksafe.Handle, error) {
	if path == "" {
		h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, Error("open netlink", err)
		}
		return &h, nil
	}
	n, err := ns.GetNS(path)
	if err != nil {
		return nil, nil
	}
	defer n.Close()
	h, err := netlinksafe.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, Error("open netlink in "+path, err)
	}
	return &h, nil
}
