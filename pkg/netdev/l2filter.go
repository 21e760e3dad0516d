package netdev

import (
	"bytes"
	"errors"
	"net"
	"strconv"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Reserved says which IEEE 802.1 reserved frames (01:80:c2:00:00:00-0f:
// STP, pause, LACP, 802.1X, LLDP...) a link qinq makes lets out. Every
// stacked link's transmit (a VLAN link above it, a macvlan, an ipvlan, a
// bridge forwarding onto it) ends in dev_queue_xmit on its lower link, so
// one egress filter on a chain link covers every pod above it, at no
// request per ADD.
type Reserved int

const (
	// DropReserved: none leaves (the default).
	DropReserved Reserved = iota
	// PassReserved: all leave but pause (…01), which is the link's own
	// business (l2ProtocolTunnel).
	PassReserved
)

// The filter's identity: an egress flower filter at this priority, matching
// any protocol, whose destination says which Reserved it is.
const (
	reservedPrio   = 0x8021
	reservedHandle = 1
)

var (
	reservedGroup = net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0}
	reservedMask  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xf0}
	pauseGroup    = net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 1}
	exactMask     = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func (r Reserved) String() string {
	if r == PassReserved {
		return "reserved 802.1 frames pass but pause (l2ProtocolTunnel)"
	}
	return "no reserved 802.1 frame passes"
}

// FilterReserved puts the filter for r on the link index in where (nil:
// the calling thread's namespace): a clsact qdisc, and a flower filter that
// drops what r keeps in. Call it where the link lives for good: moving a
// link to another namespace drops its qdiscs.
func FilterReserved(where ns.NetNS, index int, r Reserved) error {
	add := func(ns.NetNS) error { return addReservedFilter(index, r) }
	var err error
	if where == nil {
		err = add(nil)
	} else {
		err = where.Do(add)
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return cnierr.Unavailable("filter reserved 802.1 frames: the kernel lacks clsact, flower or gact (modules sch_ingress, cls_flower, act_gact): %v", err)
	}
	return Error("filter reserved 802.1 frames on ifindex "+strconv.Itoa(index), err)
}

// addReservedFilter adds the clsact qdisc (unless the link has one) and the
// filter, in the calling thread's namespace. vishvananda/netlink's Flower
// carries no destination mask, so the filter is one request of its own.
func addReservedFilter(index int, r Reserved) error {
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.HANDLE_CLSACT, Handle: netlink.MakeHandle(0xffff, 0)}}
	if err := Retry(func() error { return netlink.QdiscAdd(q) }); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	dst, mask := reservedGroup, reservedMask
	if r == PassReserved {
		dst, mask = pauseGroup, exactMask
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(index), Handle: reservedHandle,
		Parent: netlink.HANDLE_MIN_EGRESS, Info: netlink.MakeHandle(reservedPrio, nl.Swap16(unix.ETH_P_ALL))})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("flower")))
	opts := nl.NewRtAttr(nl.TCA_OPTIONS, nil)
	opts.AddRtAttr(nl.TCA_FLOWER_KEY_ETH_DST, dst)
	opts.AddRtAttr(nl.TCA_FLOWER_KEY_ETH_DST_MASK, mask)
	opts.AddRtAttr(nl.TCA_FLOWER_FLAGS, nl.Uint32Attr(nl.TCA_CLS_FLAGS_SKIP_HW))
	drop := &netlink.GenericAction{ActionAttrs: netlink.ActionAttrs{Action: netlink.TC_ACT_SHOT}}
	if err := netlink.EncodeActions(opts.AddRtAttr(nl.TCA_FLOWER_ACT, nil), []netlink.Action{drop}); err != nil {
		return err
	}
	req.AddData(opts)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	if errors.Is(err, unix.EEXIST) {
		return sameReserved(index, r) // an ADD that died after making it
	}
	return err
}

// sameReserved accepts the filter an ADD that died left on the link index
// (in the calling thread's namespace) only if it is r: another network's
// opt-in (or its refusal) is no filter to adopt (code 100).
func sameReserved(index int, r Reserved) error {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return err
	}
	h, err := netlinksafe.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	got, found, err := ReservedOf(h, l)
	switch {
	case err != nil:
		return err
	case !found || got != r:
		return otherReserved(l, got, r)
	}
	return nil
}

// otherReserved is code 100 for a link whose filter is got where this
// network asks for want.
func otherReserved(l netlink.Link, got, want Reserved) error {
	return cnierr.Conflict("%s: %s, and this network asks that %s: the tunnel-mode networks of one S-VLAN on one master must agree on l2ProtocolTunnel",
		l.Attrs().Name, got, want)
}

// ReservedOf reads which Reserved filter link l (in h's namespace) has;
// found is false when it has none.
func ReservedOf(h netlinksafe.Handle, l netlink.Link) (r Reserved, found bool, err error) {
	filters, err := h.FilterList(l, netlink.HANDLE_MIN_EGRESS)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return 0, false, Error("list the filters of "+l.Attrs().Name, err)
	}
	for _, f := range filters {
		fl, ok := f.(*netlink.Flower)
		if !ok || fl.Priority != reservedPrio || !drops(fl) {
			continue
		}
		switch {
		case bytes.Equal(fl.DestMac, reservedGroup):
			return DropReserved, true, nil
		case bytes.Equal(fl.DestMac, pauseGroup):
			return PassReserved, true, nil
		}
	}
	return 0, false, nil
}

func drops(f *netlink.Flower) bool {
	for _, a := range f.Actions {
		if g, ok := a.(*netlink.GenericAction); ok && g.Attrs().Action == netlink.TC_ACT_SHOT {
			return true
		}
	}
	return false
}

// CheckReserved reports (code 101) a link without the filter r.
func CheckReserved(h netlinksafe.Handle, l netlink.Link, r Reserved) error {
	got, found, err := ReservedOf(h, l)
	switch {
	case err != nil:
		return err
	case !found:
		return cnierr.CheckFailed("%s: no filter of reserved 802.1 frames (expected: %s): its pods' STP, LACP or LLDP would reach the wire", l.Attrs().Name, r)
	case got != r:
		return cnierr.CheckFailed("%s: %s, expected: %s", l.Attrs().Name, got, r)
	}
	return nil
}

// ensureReserved gives an owned link found without the filter (made by a
// release before it) the filter, and refuses (code 100) a top link whose
// filter lets other frames out than this attachment may send: one S-VLAN's
// tunnel-mode networks agree on l2ProtocolTunnel. An admin's link is the
// admin's (see docs/security.md).
func (m Mark) ensureReserved(h netlinksafe.Handle, where ns.NetNS, l netlink.Link) error {
	if _, owned := OwnerOf(l); !owned {
		return nil
	}
	got, found, err := ReservedOf(h, l)
	switch {
	case err != nil:
		return err
	case !found:
		return FilterReserved(where, l.Attrs().Index, m.Reserved)
	case m.Top && got != m.Reserved:
		return otherReserved(l, got, m.Reserved)
	}
	return nil
}
