package plan

import (
	"net"

	"github.com/qinq-cni/qinq/pkg/config"
)

// Endpoint is the container's side of an attachment: one type per kind,
// each holding only what that kind means.
type Endpoint interface {
	Kind() config.ContainerLink
	// Link is the link qinq makes as CNI_IFNAME; nil when it makes none.
	Link() *Iface
}

// Iface is the link qinq makes as CNI_IFNAME: its name, MTU and MAC.
type Iface struct {
	Name string
	MTU  int
	MAC  string // "" = the kernel's choice
}

// HardwareAddr is the requested MAC, nil for the kernel's choice.
func (i *Iface) HardwareAddr() net.HardwareAddr {
	mac, _ := net.ParseMAC(i.MAC) // validated by pkg/config
	return mac
}

// VLANEndpoint is the innermost VLAN link itself, made in the container on
// the chain's last link (in tunnel mode, on the master).
type VLANEndpoint struct {
	Iface
	Tag Tag
	// Key identifies the link like a chain link's Key does; its user is
	// recorded under it, so the VLAN stays reserved while the pod lives.
	Key string
}

// MacvlanEndpoint is a macvlan on the chain's last link, in Mode.
type MacvlanEndpoint struct {
	Iface
	Mode string
}

// IpvlanEndpoint is an ipvlan (bridge flag) on the chain's last link, in Mode.
type IpvlanEndpoint struct {
	Iface
	Mode string
}

// BridgeEndpoint is a veth pair: the container end is Iface.Name, the host
// end HostName a locked port of the Linux bridge Bridge on the chain's last
// link, in qinq's own network namespace. AllowedCVlans (tunnel mode) is the
// bridge's VLAN filter; nil: no filter, every C-VLAN passes. Down: the
// container end is made down and left so (disableContainerInterface).
type BridgeEndpoint struct {
	Iface
	Bridge        string
	HostName      string
	AllowedCVlans []config.VID
	Down          bool
}

// VethEndpoint is an OVS port's veth: HostName is its host end (the port),
// PeerName its container end. With a CTag, a VLAN link named Iface.Name
// stacks on the container end; without, the container end is Iface.Name.
type VethEndpoint struct {
	Iface
	HostName string
	PeerName string
	PeerMTU  int
	CTag     *Tag
}

// NoEndpoint: qinq makes no container link (OVS chained mode).
type NoEndpoint struct{}

func (*VLANEndpoint) Kind() config.ContainerLink    { return config.LinkVLAN }
func (*MacvlanEndpoint) Kind() config.ContainerLink { return config.LinkMacvlan }
func (*IpvlanEndpoint) Kind() config.ContainerLink  { return config.LinkIpvlan }
func (*VethEndpoint) Kind() config.ContainerLink    { return config.LinkVeth }
func (*BridgeEndpoint) Kind() config.ContainerLink  { return config.LinkBridge }
func (NoEndpoint) Kind() config.ContainerLink       { return config.LinkNone }

func (e *VLANEndpoint) Link() *Iface    { return &e.Iface }
func (e *MacvlanEndpoint) Link() *Iface { return &e.Iface }
func (e *IpvlanEndpoint) Link() *Iface  { return &e.Iface }
func (e *VethEndpoint) Link() *Iface    { return &e.Iface }
func (e *BridgeEndpoint) Link() *Iface  { return &e.Iface }
func (NoEndpoint) Link() *Iface         { return nil }

// AsLink is the VLAN endpoint as a link of the chain, keyed like one.
func (e *VLANEndpoint) AsLink() VLANLink {
	return VLANLink{Tag: e.Tag, Name: e.Name, Key: e.Key, MTU: e.MTU}
}
