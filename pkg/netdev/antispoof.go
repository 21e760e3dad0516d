package netdev

import (
	"bytes"
	"errors"
	"net"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// AntiSpoof is how a pod's bridge port is kept to the pod's MAC: by the
// bridge itself where the kernel has locked ports, else by a filter on the
// port's ingress. Learning off, unknown unicast off and the static FDB entry
// hold with either.
type AntiSpoof string

const (
	// LockedPort: IFLA_BRPORT_LOCKED (Linux 5.18, and kernels it was
	// backported to): the bridge drops a frame whose source MAC has no FDB
	// entry on the port.
	LockedPort AntiSpoof = "locked bridge port"
	// SourceFilter: a clsact qdisc on the port, a flower filter passing the
	// pod's source MAC, then a matchall filter dropping every other frame.
	SourceFilter AntiSpoof = "tc source-MAC filter"
)

// The filters of SourceFilter, on the port's ingress (the pod's frames).
const (
	prioPodMAC  = 1
	prioDropAll = 2
)

// keepToMAC makes port send nothing but frames from mac: it is locked
// already (lockPort); a kernel that does not report the lock back ignored
// it, and gets the filters instead. The probe reads what the kernel did,
// never its version: distributions backport.
func keepToMAC(o *Own, port netlink.Link, mac net.HardwareAddr) (AntiSpoof, error) {
	locked, err := portLocked(o, port.Attrs().Index)
	if err != nil {
		return "", Error("read the bridge port flags of "+port.Attrs().Name, err)
	}
	if locked {
		return LockedPort, nil
	}
	if err := addSourceFilter(o, port, mac); err != nil {
		return "", err
	}
	return SourceFilter, nil
}

// portLocked reports whether the kernel says port is a locked bridge port:
// IFLA_BRPORT_LOCKED set in its bridge-port data (IFLA_INFO_SLAVE_DATA),
// which a kernel without locked ports never reports.
func portLocked(o *Own, index int) (locked bool, err error) {
	var msgs [][]byte
	err = o.NS.Do(func(ns.NetNS) error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(index)
		req.AddData(msg)
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		return err
	})
	if err != nil || len(msgs) == 0 {
		return false, err
	}
	v, found, err := nestedAttr(msgs[0][unix.SizeofIfInfomsg:], unix.IFLA_LINKINFO, nl.IFLA_INFO_SLAVE_DATA, nl.IFLA_BRPORT_LOCKED)
	return found && len(v) > 0 && v[0] == 1, err
}

// nestedAttr finds the attribute at path in the route attributes b.
func nestedAttr(b []byte, path ...uint16) (value []byte, found bool, err error) {
	for _, want := range path {
		attrs, err := nl.ParseRouteAttr(b)
		if err != nil {
			return nil, false, err
		}
		found = false
		for _, a := range attrs {
			if a.Attr.Type&nl.NLA_TYPE_MASK == want {
				b, found = a.Value, true
				break
			}
		}
		if !found {
			return nil, false, nil
		}
	}
	return b, true, nil
}

// addSourceFilter puts the clsact qdisc and the two filters on port.
func addSourceFilter(o *Own, port netlink.Link, mac net.HardwareAddr) error {
	idx := port.Attrs().Index
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	if err := Retry(func() error { return o.H.QdiscReplace(q) }); err != nil {
		return filterError("add the clsact qdisc to "+port.Attrs().Name, err)
	}
	pass := &netlink.Flower{FilterAttrs: ingress(idx, prioPodMAC), SrcMac: mac,
		Actions: []netlink.Action{&netlink.GenericAction{ActionAttrs: netlink.ActionAttrs{Action: netlink.TC_ACT_OK}}}}
	drop := &netlink.MatchAll{FilterAttrs: ingress(idx, prioDropAll),
		Actions: []netlink.Action{&netlink.GenericAction{ActionAttrs: netlink.ActionAttrs{Action: netlink.TC_ACT_SHOT}}}}
	for _, f := range []netlink.Filter{pass, drop} {
		if err := Retry(func() error { return o.H.FilterReplace(f) }); err != nil {
			return filterError("keep "+port.Attrs().Name+" to "+mac.String(), err)
		}
	}
	return nil
}

func ingress(link, prio int) netlink.FilterAttrs {
	return netlink.FilterAttrs{LinkIndex: link, Parent: netlink.HANDLE_MIN_INGRESS, Priority: uint16(prio), Protocol: unix.ETH_P_ALL}
}

// filterError: without locked ports the filter is the only guard, so a
// kernel that cannot make it cannot host the bridge link (code 50).
func filterError(what string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return cnierr.Unavailable("%s: the kernel has neither locked bridge ports (Linux 5.18) nor the tc flower and matchall "+
			"classifiers with the gact action (modules cls_flower, cls_matchall, act_gact, sch_ingress): containerLink \"bridge\" "+
			"cannot keep a pod to its MAC here (%v)", what, err)
	}
	return Error(what, err)
}

// CheckKeptToMAC verifies the mechanism in force on port: the lock where the
// kernel reports one, else both filters, for mac.
func CheckKeptToMAC(o *Own, port netlink.Link, mac net.HardwareAddr) (AntiSpoof, error) {
	name := port.Attrs().Name
	locked, err := portLocked(o, port.Attrs().Index)
	if err != nil {
		return "", Error("read the bridge port flags of "+name, err)
	}
	if locked {
		return LockedPort, nil
	}
	filters, err := o.H.FilterList(port, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return "", cnierr.CheckFailed("%s: is not locked, and its ingress filters cannot be read (%v): it would take any source MAC", name, err)
	}
	var passes, drops bool
	for _, f := range filters {
		switch f := f.(type) {
		case *netlink.Flower:
			passes = passes || (f.Priority == prioPodMAC && bytes.Equal(f.SrcMac, mac) && actionIs(f.Actions, netlink.TC_ACT_OK))
		case *netlink.MatchAll:
			drops = drops || (f.Priority == prioDropAll && actionIs(f.Actions, netlink.TC_ACT_SHOT))
		}
	}
	if !passes || !drops {
		return "", cnierr.CheckFailed("%s: is not locked and lacks its source-MAC filter (pass %s: %v, drop the rest: %v): it would take any source MAC",
			name, mac, passes, drops)
	}
	return SourceFilter, nil
}

func actionIs(actions []netlink.Action, want netlink.TcAct) bool {
	for _, a := range actions {
		if g, ok := a.(*netlink.GenericAction); ok && g.Attrs().Action == want {
			return true
		}
	}
	return false
}

// OfferedAntiSpoof says what a new bridge port would be kept to its MAC by,
// as far as the node shows without making one: the lock where a port in
// qinq's namespace (o, nil if none) reports it, else the filter where its
// modules are present. known is false when neither is shown: a port of a
// kernel without locked ports whose filters cannot be made is refused at
// ADD (code 50).
func OfferedAntiSpoof(o *Own, moduleAvailable func(string) bool) (how AntiSpoof, known bool) {
	if o != nil {
		if links, err := o.H.LinkList(); err == nil {
			for _, l := range links {
				if l.Type() != "veth" || l.Attrs().MasterIndex == 0 {
					continue
				}
				if locked, err := portLocked(o, l.Attrs().Index); err == nil && locked {
					return LockedPort, true
				}
				break
			}
		}
	}
	for _, m := range []string{"sch_ingress", "cls_flower", "cls_matchall", "act_gact"} {
		if !moduleAvailable(m) {
			return "", false
		}
	}
	return SourceFilter, true
}
