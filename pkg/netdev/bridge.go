package netdev

import (
	"bytes"
	"errors"
	"hash/fnv"
	"net"
	"strconv"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// bridgeKeySuffix tells a bridge's owner alias from its joined link's: the
// two have one key, and so one set of users.
const bridgeKeySuffix = "/bridge"

// BridgeKey is the key in a bridge's owner alias, and OwnedLinkKey the key
// of users an owned link (a chain link or a bridge) goes with.
func BridgeKey(key string) string { return key + bridgeKeySuffix }

// OwnedLinkKey returns the users' key of an owned link, bridge or VLAN.
func OwnedLinkKey(l netlink.Link) (string, bool) {
	key, ok := OwnedKey(l)
	return strings.TrimSuffix(key, bridgeKeySuffix), ok
}

// BridgeMAC is a stable, locally administered MAC per bridge: a bridge by
// default takes the lowest MAC among its ports and so changes as pods come
// and go.
func BridgeMAC(key string) net.HardwareAddr {
	h := fnv.New64a()
	h.Write([]byte(key))
	s := h.Sum(nil)
	return net.HardwareAddr{0x02, s[0], s[1], s[2], s[3], s[4]}
}

// MaxBridgePorts is the kernel's limit (BR_MAX_PORTS - 1: port numbers are
// 10 bits and 0 is reserved); the joined link takes one.
const MaxBridgePorts = 1023

// BridgeSpec is a bridge to find or make in qinq's namespace.
type BridgeSpec struct {
	Name  string
	Key   string // the joined link's key
	Store string // the store identity its owner mark names
	MTU   int
	// VLANs (tunnel mode with allowedCVlans): the bridge filters 802.1Q VLANs
	// and carries only these, tagged, on its ports; untagged frames are
	// dropped, as OVS drops them on a dot1q-tunnel port whose cvlans lacks 0.
	// Nil: every frame the pod sends passes (see untaggedVID).
	VLANs []config.VID
	// Reserved: with PassReserved (l2ProtocolTunnel) the bridge forwards
	// reserved 802.1 frames between its ports, pause excepted; else only
	// STP's group address crosses it (the kernel's rule with STP off), and
	// the uplink's filter drops it.
	Reserved Reserved
}

// fwdMask is a port's group_fwd_mask for r: bit n forwards 01:80:c2:00:00:0n.
// The kernel refuses the pause bit on a port.
func fwdMask(r Reserved) uint16 {
	if r == PassReserved {
		return 0xffff &^ (1 << 1)
	}
	return 0
}

// untaggedVID is the one VLAN of a bridge without VLANs: it filters 802.1ad
// tags (vlan_protocol), so whatever a pod sends untagged or 802.1Q-tagged is
// "untagged" to it and crosses on this PVID. Every bridge filters VLANs and
// the bridge device itself is on none, so the node's stack in qinq's
// namespace neither sends (IGMP reports were seen on the wire from an
// unfiltered bridge) nor receives on a tenant VLAN.
const untaggedVID = 1

// portVLANs puts a port on the bridge's VLANs: vids tagged, or untaggedVID
// as PVID, untagged.
func portVLANs(h netlinksafe.Handle, port netlink.Link, vids []config.VID) error {
	if vids == nil {
		return Error("put "+port.Attrs().Name+" on its VLAN",
			h.BridgeVlanAdd(port, untaggedVID, true, true, false, true))
	}
	return addVLANs(h, port, vids)
}

// FDBVIDs are the VLANs a port's FDB entries are on.
func FDBVIDs(vids []config.VID) []config.VID {
	if vids == nil {
		return []config.VID{untaggedVID}
	}
	return vids
}

// EnsureBridge finds the bridge or makes it: STP off, forward delay 0, its
// own MTU and MAC, so that it does not follow its ports. In qinq's own
// namespace its name (a digest of its key) is its identity: it is made under
// that name, and one found without its owner alias is one an ADD died
// making, finished now. The alias says which link it belongs to; a bridge a
// previous release made is found under its name of then (FindBridge).
func EnsureBridge(o *Own, b BridgeSpec) (netlink.Link, error) {
	if l, err := FindBridge(o.H, b.Name, b.Key); l != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return l, SetUp(o.H, l)
	}
	if l, err := o.H.LinkByName(b.Name); err == nil {
		if _, owned := OwnedKey(l); owned {
			// Another key's: named by no key, which may be another tenant's.
			return nil, cnierr.Conflict("%s in qinq's network namespace is the bridge of another link", b.Name)
		}
		if err := finishBridge(o, l, b); err != nil {
			return nil, err
		}
		return l, SetUp(o.H, l)
	} else if !IsGone(err) {
		return nil, Error("find the bridge "+b.Name, err)
	}
	if err := HardenOwnNS(o.NS); err != nil {
		return nil, err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.HardwareAddr = b.Name, b.MTU, BridgeMAC(b.Key)
	filtering, pvid := true, uint16(0) // no VLAN on a new port, none on the bridge itself
	br := &netlink.Bridge{LinkAttrs: attrs, VlanFiltering: &filtering, VlanDefaultPVID: &pvid}
	if err := Retry(func() error { return o.H.LinkAdd(br) }); err != nil {
		return nil, CreateError(br, "create the bridge "+b.Name, err)
	}
	l, err := o.H.LinkByName(b.Name)
	if err == nil {
		err = finishBridge(o, l, b)
	}
	if err != nil {
		if l != nil {
			_ = o.H.LinkDel(l)
		}
		return nil, err
	}
	return l, nil // finishBridge kept its attributes (alias, flags) up to date
}

// finishBridge isolates the bridge (still down), sets the options
// vishvananda/netlink's Bridge does not carry, marks it as owned last (an
// alias says it is complete) and sets it up.
func finishBridge(o *Own, l netlink.Link, b BridgeSpec) error {
	if err := isolateIn(o, l.Attrs().Name); err != nil {
		return err
	}
	if err := o.NS.Do(func(ns.NetNS) error { return setBridgeOptions(l.Attrs().Index, b.VLANs == nil) }); err != nil {
		return Error("set STP off, forward delay 0 and the VLAN protocol on "+b.Name, err)
	}
	if err := setAlias(o.H, l, OwnerAlias(b.Store, BridgeKey(b.Key))); err != nil {
		return Error("mark the bridge "+b.Name+" as owned", err)
	}
	return SetUp(o.H, l)
}

// setBridgeOptions sets what vishvananda/netlink's Bridge does not carry:
// STP off and forward delay 0 (allowed only with STP off), so a port
// forwards at once, and with ad the 802.1ad VLAN protocol (untaggedVID).
// Runs in the bridge's namespace.
func setBridgeOptions(index int, ad bool) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
	if ad {
		data.AddRtAttr(nl.IFLA_BR_VLAN_PROTOCOL, htons(unix.ETH_P_8021AD))
	}
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// lockPort makes a bridge port accept only frames whose source MAC has an
// FDB entry pointing at it (IFLA_BRPORT_LOCKED, 5.18+), learn nothing, and
// receive no unknown unicast. vishvananda/netlink has no setter for
// LOCKED; one request sets all three. Runs in the port's namespace.
func lockPort(index int, r Reserved) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(index)
	req.AddData(msg)
	pi := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	pi.AddRtAttr(nl.IFLA_BRPORT_LEARNING, []byte{0})
	pi.AddRtAttr(nl.IFLA_BRPORT_UNICAST_FLOOD, []byte{0})
	pi.AddRtAttr(nl.IFLA_BRPORT_LOCKED, []byte{1})
	pi.AddRtAttr(nl.IFLA_BRPORT_GROUP_FWD_MASK, nl.Uint16Attr(fwdMask(r)))
	req.AddData(pi)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// setFwdMask sets the uplink's group_fwd_mask for r, so the customer's far
// end reaches its pods with LACP or LLDP too (l2ProtocolTunnel); 0, the
// kernel's default, needs no request. Runs in the port's namespace.
func setFwdMask(index int, r Reserved) error {
	if fwdMask(r) == 0 {
		return nil
	}
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(index)
	req.AddData(msg)
	pi := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	pi.AddRtAttr(nl.IFLA_BRPORT_GROUP_FWD_MASK, nl.Uint16Attr(fwdMask(r)))
	req.AddData(pi)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

func htons(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// SetUp sets l up unless its attributes say it is, and keeps them true (no
// read-back).
func SetUp(h netlinksafe.Handle, l netlink.Link) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := Retry(func() error { return h.LinkSetUp(l) }); err != nil {
		return Error("set "+l.Attrs().Name+" up", err)
	}
	l.Attrs().Flags |= net.FlagUp
	return nil
}

// addVLANs puts the port on vids, tagged (no PVID: untagged frames drop).
func addVLANs(h netlinksafe.Handle, port netlink.Link, vids []config.VID) error {
	for _, r := range vidRanges(vids) {
		var err error
		if r[0] == r[1] {
			err = h.BridgeVlanAdd(port, uint16(r[0]), false, false, false, true)
		} else {
			err = h.BridgeVlanAddRange(port, uint16(r[0]), uint16(r[1]), false, false, false, true)
		}
		if err != nil {
			return Error("put "+port.Attrs().Name+" on its VLANs", err)
		}
	}
	return nil
}

// vidRanges folds vids into [first, last] runs.
func vidRanges(vids []config.VID) [][2]config.VID {
	var set [4096]bool
	for _, v := range vids {
		set[v] = true
	}
	var out [][2]config.VID
	for v := config.VID(1); v < 4095; v++ {
		if !set[v] {
			continue
		}
		start := v
		for v+1 < 4095 && set[v+1] {
			v++
		}
		out = append(out, [2]config.VID{start, v})
	}
	return out
}

// JoinBridge makes the joined link a port of the bridge (on the bridge's
// VLANs, when it filters) that learns nothing, and sets it up.
func JoinBridge(o *Own, joined, bridge netlink.Link, b BridgeSpec) error {
	vids := b.VLANs
	if joined.Attrs().MasterIndex != bridge.Attrs().Index {
		if err := Retry(func() error { return o.H.LinkSetMaster(joined, bridge) }); err != nil {
			return Error("make "+joined.Attrs().Name+" a port of "+bridge.Attrs().Name, err)
		}
		if err := portVLANs(o.H, joined, vids); err != nil {
			return err
		}
		if err := o.NS.Do(func(ns.NetNS) error { return setFwdMask(joined.Attrs().Index, b.Reserved) }); err != nil {
			return Error("forward reserved 802.1 frames from "+joined.Attrs().Name, err)
		}
	} else if vids != nil {
		// Another network on this S-VLAN may allow other C-VLANs: the
		// uplink carries them all, each pod's port only its own (adding a
		// VLAN a port has is no change).
		if err := addVLANs(o.H, joined, vids); err != nil {
			return err
		}
	}
	// Every ADD, so a bridge an older release made is bounded too: learned
	// sources from the wire would grow the FDB without bound (one entry per
	// forged MAC). Pod MACs are static entries; a frame to any other MAC
	// floods to the uplink, the only port with unicast flood on.
	if err := Retry(func() error { return o.H.LinkSetLearning(joined, false) }); err != nil {
		return Error("turn learning off on the bridge's uplink "+joined.Attrs().Name, err)
	}
	return SetUp(o.H, joined)
}

// BridgeReady finds the uplink l and its bridge b in qinq's namespace when
// both are ready as they are: under their names, the uplink up, a port of
// the bridge, its filter of reserved frames m.Reserved's. It writes nothing
// and lists no links (only the uplink's filters), so ADDs of pods on one bridge run side by side (under
// its key's lock, shared); ready false sends the caller to EnsureJoined and
// EnsureBridge, under the lock whole.
func BridgeReady(o *Own, l plan.VLANLink, b BridgeSpec, m Mark) (joined, bridge netlink.Link, ready bool, err error) {
	joined = ownedByName(o.H, l)
	if joined == nil || IsTempName(joined.Attrs().Name) || joined.Attrs().Flags&net.FlagUp == 0 {
		return nil, nil, false, nil
	}
	if bridge, err = FindBridge(o.H, b.Name, b.Key); err != nil || bridge == nil ||
		bridge.Attrs().Flags&net.FlagUp == 0 || joined.Attrs().MasterIndex != bridge.Attrs().Index {
		return nil, nil, false, err
	}
	got, filtered, err := ReservedOf(o.H, joined)
	if err != nil || !filtered || got != m.Reserved {
		return nil, nil, false, err
	}
	return joined, bridge, true, nil
}

// EnsureJoined finds the chain link l that a bridge joins in qinq's
// namespace (n.Own), or creates it there directly on parent, wherever
// parent is. The kernel has one VLAN link per (parent, tag) in any
// namespace: one under a real name elsewhere is an admin's or a
// macvlan/ipvlan endpoint's shared link, and qinq puts no bridge on a link
// it did not make, nor two rx handlers on one (code 100); inUse explains one
// found nowhere (a container's own vlan link).
//
// Its filter of reserved 802.1 frames is m.Reserved (see Mark).
//
// An uplink not under its names is not looked for: the link is created, and
// only the kernel's EEXIST (a VLAN on parent with l's tag exists, under a
// temporary or another name) lists the links, so a first pod on a node
// full of ports does not list them.
func EnsureJoined(n *Namespaces, parent At, l plan.VLANLink, m Mark, inUse func() error) (netlink.Link, error) {
	o := n.Own
	if found := ownedByName(o.H, l); found != nil {
		return joinOwned(o, found, l, m)
	}
	v := NewVLAN(TempName(), parent.Index(), l.Tag, l.MTU)
	made, _, err := n.createChainLink(parent, v)
	switch {
	case err == nil:
		j, err := finishJoined(o, made.Link, l, m)
		if err != nil {
			_ = IgnoreGone(o.H.LinkDel(made.Link))
		}
		return j, err
	case !errors.Is(err, unix.EEXIST):
		return nil, CreateError(v, "create "+l.Name, err)
	}
	found, err := n.Find(parent, l, true)
	switch {
	case err != nil:
		return nil, err
	case !found.Found():
		return nil, inUse()
	case found.Own && keyed(found.Link, l.Key):
		return joinOwned(o, found.Link, l, m) // marked: under a temporary name, or renamed
	case IsTempName(found.Attrs().Name) && found.Own:
		return finishJoined(o, found.Link, l, m) // an ADD died before marking it
	case IsTempName(found.Attrs().Name):
		return moveJoined(found.H, o, found.Link, l, m) // an older release's ADD died before the move
	}
	return nil, notUplink(l, found.Own, found)
}

// joinOwned takes up the uplink found in qinq's namespace, marked with l's
// key: filtered, and renamed if an ADD died before its rename.
func joinOwned(o *Own, found netlink.Link, l plan.VLANLink, m Mark) (netlink.Link, error) {
	if !IsTempName(found.Attrs().Name) && found.Attrs().MasterIndex == 0 && found.Attrs().Flags&net.FlagUp != 0 {
		// Up and no bridge's port: a macvlan/ipvlan shared link (an
		// uplink stays down until it is a port).
		return nil, notUplink(l, true, found)
	}
	if err := m.ensureReserved(o.H, o.NS, found); err != nil {
		return nil, err
	}
	if IsTempName(found.Attrs().Name) {
		return renameJoined(o, found, l)
	}
	return found, nil
}

func notUplink(l plan.VLANLink, own bool, found netlink.Link) error {
	where := "the node's network namespace"
	if own {
		where = "qinq's network namespace"
	}
	return cnierr.Conflict("%s in %s (%s) is not qinq's bridge uplink: it is shared by macvlan or ipvlan containers or was made by an admin; "+
		"a bridge and a macvlan/ipvlan cannot share one link (a link has one receive handler), and qinq puts no bridge on a link it did not make",
		l.Tag, where, found.Attrs().Name)
}

// FindOwnedLink finds the owned link keyed l.Key in qinq's namespace: by name,
// else (a temporary name, after a crash) by listing.
func FindOwnedLink(h netlinksafe.Handle, l plan.VLANLink) (netlink.Link, error) {
	if f := ownedByName(h, l); f != nil {
		return f, nil
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, Error("list the links of qinq's network namespace", err)
	}
	for _, f := range links {
		if keyed(f, l.Key) {
			return f, nil
		}
	}
	return nil, nil
}

// moveJoined moves into qinq's namespace the uplink an older release's ADD
// created on the host and died with before moving it.
func moveJoined(h netlinksafe.Handle, o *Own, v netlink.Link, l plan.VLANLink, m Mark) (netlink.Link, error) {
	// Marked before it moves, as that release did.
	if err := Retry(func() error { return h.LinkSetAlias(v, OwnerAlias(m.Store, l.Key)) }); err != nil {
		return nil, Error("mark "+v.Attrs().Name+" as owned", err)
	}
	if err := Retry(func() error { return h.LinkSetNsFd(v, int(o.NS.Fd())) }); err != nil {
		return nil, Error("move "+l.Name+" into qinq's network namespace", err)
	}
	moved, err := o.H.LinkByName(v.Attrs().Name)
	if err != nil {
		return nil, Error("find "+v.Attrs().Name+" in qinq's network namespace", err)
	}
	return finishJoined(o, moved, l, m)
}

// finishJoined isolates the uplink in qinq's namespace (still down, under
// its temporary name), filters the reserved 802.1 frames it lets out, marks
// it as owned (qinq's namespace is this store's alone) and gives it its
// planned name.
func finishJoined(o *Own, v netlink.Link, l plan.VLANLink, m Mark) (netlink.Link, error) {
	if err := isolateIn(o, v.Attrs().Name); err != nil {
		return nil, err
	}
	// A move drops a link's qdiscs: the filter is made where it stays.
	if err := FilterReserved(o.NS, v.Attrs().Index, m.Reserved); err != nil {
		return nil, err
	}
	if err := setAlias(o.H, v, OwnerAlias(m.Store, l.Key)); err != nil {
		return nil, Error("mark "+v.Attrs().Name+" as owned", err)
	}
	return renameJoined(o, v, l)
}

// renameJoined gives the uplink its planned name; it stays down until it is
// a port of its bridge (JoinBridge).
func renameJoined(o *Own, v netlink.Link, l plan.VLANLink) (netlink.Link, error) {
	var err error
	for _, name := range []string{l.Name, l.AltName} {
		if err = Retry(func() error { return o.H.LinkSetName(v, name) }); err == nil {
			v.Attrs().Name = name
			return v, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	return nil, Error("name the bridge's uplink "+l.Name, err)
}

// Port is a pod's veth pair on a bridge.
type Port struct {
	HostName string // the bridge port, in qinq's namespace
	Name     string // the container end's: CNI_IFNAME
	MTU      int
	MAC      net.HardwareAddr // the container end's; nil: the kernel's
}

// CreatePortPair creates the veth pair in one request: the container end in
// the container under its final name (down: nothing crosses until the port
// is locked), the host end in qinq's namespace. The request is made in the
// container (ctr), where the kernel looks the new name up: the node's own
// eth0 does not stand in the way of a pod's.
func CreatePortPair(o *Own, ctr netlinksafe.Handle, p Port) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.HardwareAddr = p.Name, p.MTU, p.MAC
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: p.HostName, PeerMTU: uint32(p.MTU), PeerNamespace: netlink.NsFd(int(o.NS.Fd()))}
	if err := Retry(func() error { return ctr.LinkAdd(veth) }); err != nil {
		if errors.Is(err, unix.EEXIST) {
			if taken := Absent(ctr, p.Name); taken != nil {
				return taken // taken since the plan's check
			}
			return cnierr.Conflict("bridge port %s already exists in qinq's network namespace", p.HostName)
		}
		return CreateError(veth, "create the veth pair "+p.HostName, err)
	}
	if err := isolateIn(o, p.HostName); err != nil {
		_ = DeleteNamed(o.H, p.HostName, "veth") // takes the container end along
		return err
	}
	return nil
}

// isolateIn applies IsolateHostLink in qinq's namespace, to a link still
// down: the node's addresses are not there, but no link qinq makes takes an
// address, an RA, or answers ARP, wherever it lives.
func isolateIn(o *Own, name string) error {
	return o.NS.Do(func(ns.NetNS) error { return IsolateHostLink(name) })
}

// AttachPort makes the host end a locked port of bridge that accepts only
// frames from mac (on every VLAN in vids, or on untaggedVID): a
// static, sticky FDB entry per VLAN, so neither the pod nor a frame from the
// wire can move or add entries. A full bridge is code 11.
func AttachPort(o *Own, host, bridge netlink.Link, mac net.HardwareAddr, b BridgeSpec) (AntiSpoof, error) {
	vids := b.VLANs
	if err := Retry(func() error { return o.H.LinkSetMaster(host, bridge) }); err != nil {
		if errors.Is(err, unix.EXFULL) {
			return "", cnierr.TryAgain("bridge "+bridge.Attrs().Name+" has its "+strconv.Itoa(MaxBridgePorts)+
				" ports (the kernel's limit, the uplink included): no further pod on this (S, C) on this node until one leaves", err)
		}
		return "", Error("make "+host.Attrs().Name+" a port of "+bridge.Attrs().Name, err)
	}
	if err := o.NS.Do(func(ns.NetNS) error { return lockPort(host.Attrs().Index, b.Reserved) }); err != nil {
		return "", Error("lock the bridge port "+host.Attrs().Name, err)
	}
	how, err := keepToMAC(o, host, mac)
	if err != nil {
		return "", err
	}
	if err := portVLANs(o.H, host, vids); err != nil {
		return "", err
	}
	for _, vid := range FDBVIDs(vids) {
		e := fdbEntry{port: host, bridge: bridge.Attrs().Index, mac: mac, vid: vid}
		if err := addExclusive(o.H, e); err != nil {
			return "", err
		}
	}
	return how, SetUp(o.H, host)
}

// fdbEntry is a pod's static entry: mac on vid, on its port of bridge.
type fdbEntry struct {
	port   netlink.Link
	bridge int
	mac    net.HardwareAddr
	vid    config.VID
}

// addExclusive adds the entry exclusively (NLM_F_EXCL: the kernel's
// fdb_add_entry refuses with EEXIST when the bridge has mac on vid on any
// port), never create-or-replace: a MAC another port holds is refused (100,
// naming no holder), and of two racing ADDs with one MAC exactly one wins.
// An entry the uplink learned from the wire is no conflict (a VM's MAC
// arrives on a live-migration target first): it goes, and the add is tried
// again, as long as the wire does not learn it back at once.
func addExclusive(h netlinksafe.Handle, e fdbEntry) error {
	n := &netlink.Neigh{LinkIndex: e.port.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_NOARP,
		Flags: netlink.NTF_MASTER | netlink.NTF_STICKY, HardwareAddr: e.mac, Vlan: int(e.vid)}
	for range 3 {
		err := Retry(func() error { return h.NeighAdd(n) })
		if !errors.Is(err, unix.EEXIST) {
			return Error("add the FDB entry of "+e.mac.String()+" on "+e.port.Attrs().Name, err)
		}
		learned, err := learnedFromWire(h, e)
		if err != nil {
			return err
		}
		if learned == nil {
			return cnierr.Conflict("MAC %s is already another port's on this bridge (VLAN %d): a pod never takes over a MAC another pod "+
				"or the bridge holds; give this pod another mac", e.mac, e.vid)
		}
		if err := IgnoreGone(h.NeighDel(learned)); err != nil && !errors.Is(err, unix.ENOENT) {
			return Error("delete the FDB entry the uplink learned for "+e.mac.String(), err)
		}
	}
	return cnierr.TryAgain("MAC "+e.mac.String()+" keeps arriving from the wire on this pod's VLAN", unix.EEXIST)
}

// learnedFromWire returns the bridge's entry for the MAC on the VLAN when it
// is one the uplink (its one VLAN link port) learned, neither static nor
// permanent; nil for any other holder.
func learnedFromWire(h netlinksafe.Handle, e fdbEntry) (*netlink.Neigh, error) {
	fdb, err := h.NeighList(0, unix.AF_BRIDGE)
	if err != nil {
		return nil, Error("list the FDB of qinq's network namespace", err)
	}
	for _, n := range fdb {
		if n.MasterIndex != e.bridge || n.Vlan != int(e.vid) || !bytes.Equal(n.HardwareAddr, e.mac) {
			continue
		}
		if n.State&(netlink.NUD_NOARP|netlink.NUD_PERMANENT) != 0 {
			return nil, nil
		}
		port, err := h.LinkByIndex(n.LinkIndex)
		if err != nil || port.Type() != "vlan" {
			return nil, nil
		}
		// Deleted through the bridge, whatever flags the dump carried.
		return &netlink.Neigh{LinkIndex: n.LinkIndex, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER, HardwareAddr: n.HardwareAddr, Vlan: n.Vlan}, nil
	}
	return nil, nil
}

// FindBridge finds the bridge of the link keyed key in qinq's namespace,
// owned and under one of its names (plan.BridgeNames): named (recorded or
// planned), this release's, or a previous release's. Nil if none.
func FindBridge(h netlinksafe.Handle, name, key string) (netlink.Link, error) {
	for _, n := range plan.BridgeNames(name, key) {
		l, err := h.LinkByName(n)
		if IsGone(err) {
			continue
		}
		if err != nil {
			return nil, Error("find the bridge "+n, err)
		}
		if keyed(l, BridgeKey(key)) {
			return l, nil
		}
	}
	return nil, nil
}

// DeleteBridge deletes the bridge of key in qinq's namespace (FindBridge),
// or, without an alias under name, the one an ADD died making (its name is
// the digest of key, in qinq's namespace). Another link's stays.
func DeleteBridge(h netlinksafe.Handle, name, key string) error {
	l, err := FindBridge(h, name, key)
	if err != nil {
		return err
	}
	if l == nil {
		if l, err = h.LinkByName(name); IsGone(err) || (err == nil && Owned(l)) {
			return nil
		}
		if err != nil {
			return Error("find the bridge "+name, err)
		}
	}
	return Error("delete the bridge "+l.Attrs().Name, IgnoreGone(Retry(func() error { return h.LinkDel(l) })))
}

// ownedByName is the owned link keyed l.Key under one of l's names in h's
// namespace, or nil.
func ownedByName(h netlinksafe.Handle, l plan.VLANLink) netlink.Link {
	for _, name := range l.Names() {
		if f, err := h.LinkByName(name); err == nil && keyed(f, l.Key) {
			return f
		}
	}
	return nil
}

// keyed reports whether f carries an owner mark with key.
func keyed(f netlink.Link, key string) bool {
	k, ok := OwnedKey(f)
	return ok && k == key
}
