package main

import (
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/record"
)

// enterChainNS moves this thread (locked: see init) into qinq's network
// namespace when the link name is there and not in the node's: the chain
// links this release makes live there (docs/security.md, Where links live).
// The store's scope is read before, in the node's namespace.
func enterChainNS(store record.Store, name string) error {
	if _, err := netlinksafe.LinkByName(name); err == nil {
		return nil
	}
	path, err := ownNamespace(store.OwnNS().Path)
	if err != nil || path == "" {
		return err // not visible here: the link may be there, unknown; none made: the link is nowhere, tree says so
	}
	own, err := ns.GetNS(path)
	if err != nil {
		return err
	}
	defer own.Close()
	links, err := ownLinks(own)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Attrs().Name == name {
			return unix.Setns(int(own.Fd()), unix.CLONE_NEWNET)
		}
	}
	return nil
}

// ownLinks lists the links of qinq's namespace own.
func ownLinks(own ns.NetNS) ([]netlink.Link, error) {
	h, err := netlinksafe.NewHandleAt(netns.NsHandle(own.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.LinkList()
}

// chainLinks are the links of qinq's namespace of store, if it has one.
func chainLinks(store record.Store) ([]netlink.Link, error) {
	path, err := ownNamespace(store.OwnNS().Path)
	if err != nil || path == "" {
		return nil, err
	}
	own, err := ns.GetNS(path)
	if err != nil {
		return nil, err
	}
	defer own.Close()
	return ownLinks(own)
}
