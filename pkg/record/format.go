package record

import (
	"encoding/json"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Version is the record format this release writes. A record is its own
// type, not the plan's JSON: the plan may change shape between releases,
// the record on disk of a running pod may not, or an upgrade would strand
// its DEL. Every format a release wrote stays readable:
//
//	1  the plan's own JSON, no "version" key (releases up to 86e0223)
//	2  this file's types, keyed by network, container ID and interface name
const Version = 2

// fileV2 is the record as stored. Every field has one meaning; each
// endpoint kind has its own object.
type fileV2 struct {
	Version     int        `json:"version"`
	Network     string     `json:"network"`
	ContainerID string     `json:"containerID"`
	IfName      string     `json:"ifName"`
	Netns       string     `json:"netns,omitempty"`
	Backend     string     `json:"backend"`
	Master      masterV2   `json:"master"`
	Chain       []linkV2   `json:"chain,omitempty"`
	InContainer bool       `json:"inContainer,omitempty"`
	Switch      *switchV2  `json:"switch,omitempty"`
	Endpoint    endpointV2 `json:"endpoint"`
	// ReservedFiltered: made by a release that filters reserved 802.1
	// frames; absent in older records, whose pods CHECK does not hold to it.
	ReservedFiltered bool `json:"reservedFiltered,omitempty"`
}

type masterV2 struct {
	Name string `json:"name,omitempty"`
	MTU  int    `json:"mtu,omitempty"`
}

// tagV2 spells the TPID as the wire does ("0x88a8"), not as netlink's enum.
type tagV2 struct {
	TPID string `json:"tpid"`
	VID  uint16 `json:"vid"`
}

type linkV2 struct {
	Tag     tagV2  `json:"tag"`
	Name    string `json:"name,omitempty"`
	AltName string `json:"altName,omitempty"`
	Key     string `json:"key"`
	MTU     int    `json:"mtu,omitempty"`
}

type switchV2 struct {
	Socket  string `json:"socket"`
	Bridge  string `json:"bridge,omitempty"`
	Port    string `json:"port,omitempty"`
	Chained bool   `json:"chained,omitempty"`
}

// endpointV2: the kind, the container link every kind but none has, and
// the one object of that kind.
type endpointV2 struct {
	Kind    config.ContainerLink `json:"kind"`
	Link    *ifaceV2             `json:"link,omitempty"`
	VLAN    *vlanV2              `json:"vlan,omitempty"`
	Macvlan *modeV2              `json:"macvlan,omitempty"`
	Ipvlan  *modeV2              `json:"ipvlan,omitempty"`
	Veth    *vethV2              `json:"veth,omitempty"`
	Bridge  *bridgeV2            `json:"bridge,omitempty"`
}

type ifaceV2 struct {
	Name string `json:"name"`
	MTU  int    `json:"mtu,omitempty"`
	MAC  string `json:"mac,omitempty"`
}

type vlanV2 struct {
	Tag tagV2  `json:"tag"`
	Key string `json:"key"`
}

type modeV2 struct {
	Mode string `json:"mode"`
}

type vethV2 struct {
	HostName string `json:"hostName"`
	PeerName string `json:"peerName"`
	PeerMTU  int    `json:"peerMTU,omitempty"`
	CTag     *tagV2 `json:"cTag,omitempty"`
}

// bridgeV2: the Linux bridge in qinq's own netns, the pod's port on it and
// the bridge's VLAN filter (tunnel mode; absent: none). Down came after
// the first format 2 records: absent reads as false.
type bridgeV2 struct {
	Bridge        string   `json:"bridge"`
	HostName      string   `json:"hostName"`
	AllowedCVlans []uint16 `json:"allowedCVlans,omitempty"`
	Down          bool     `json:"down,omitempty"`
}

// encode is p as the current format.
func encode(p plan.Plan) ([]byte, error) {
	a := p.Attachment
	f := fileV2{Version: Version, Network: a.Network, ContainerID: a.ContainerID, IfName: a.IfName, Netns: a.Netns,
		Backend: string(p.Backend), Master: masterV2(p.Master), InContainer: p.InContainer, ReservedFiltered: p.ReservedFiltered}
	for _, l := range p.Chain {
		f.Chain = append(f.Chain, linkV2{Tag: tagOf(l.Tag), Name: l.Name, AltName: l.AltName, Key: l.Key, MTU: l.MTU})
	}
	if s := p.Switch; s != nil {
		f.Switch = &switchV2{Socket: s.Socket, Bridge: s.Bridge, Port: s.Port, Chained: s.Chained}
	}
	e, err := endpointOf(p.Endpoint)
	f.Endpoint = e
	if err != nil {
		return nil, err
	}
	return json.Marshal(f)
}

func endpointOf(e plan.Endpoint) (endpointV2, error) {
	if e == nil {
		return endpointV2{}, fmt.Errorf("the plan has no endpoint")
	}
	out := endpointV2{Kind: e.Kind()}
	if i := e.Link(); i != nil {
		out.Link = &ifaceV2{Name: i.Name, MTU: i.MTU, MAC: i.MAC}
	}
	switch e := e.(type) {
	case *plan.VLANEndpoint:
		out.VLAN = &vlanV2{Tag: tagOf(e.Tag), Key: e.Key}
	case *plan.MacvlanEndpoint:
		out.Macvlan = &modeV2{Mode: e.Mode}
	case *plan.IpvlanEndpoint:
		out.Ipvlan = &modeV2{Mode: e.Mode}
	case *plan.VethEndpoint:
		out.Veth = &vethV2{HostName: e.HostName, PeerName: e.PeerName, PeerMTU: e.PeerMTU}
		if e.CTag != nil {
			t := tagOf(*e.CTag)
			out.Veth.CTag = &t
		}
	case *plan.BridgeEndpoint:
		out.Bridge = &bridgeV2{Bridge: e.Bridge, HostName: e.HostName, Down: e.Down}
		for _, v := range e.AllowedCVlans {
			out.Bridge.AllowedCVlans = append(out.Bridge.AllowedCVlans, uint16(v))
		}
	case plan.NoEndpoint:
	default:
		return out, fmt.Errorf("endpoint kind %s has no record format", e.Kind())
	}
	return out, nil
}

// decode reads a record of any format this release knows.
func decode(data []byte) (plan.Plan, error) {
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return plan.Plan{}, err
	}
	switch {
	case v.Version == nil:
		return decodeV1(data)
	case *v.Version == 2:
		return decodeV2(data)
	}
	return plan.Plan{}, fmt.Errorf("record format %d is newer than this qinq (it reads 1 to %d)", *v.Version, Version)
}

func decodeV2(data []byte) (plan.Plan, error) {
	var f fileV2
	if err := json.Unmarshal(data, &f); err != nil {
		return plan.Plan{}, err
	}
	p := plan.Plan{
		Attachment: plan.Attachment{Network: f.Network, ContainerID: f.ContainerID, IfName: f.IfName, Netns: f.Netns},
		Backend:    config.Backend(f.Backend), Master: plan.Master(f.Master), InContainer: f.InContainer,
		ReservedFiltered: f.ReservedFiltered,
	}
	for _, l := range f.Chain {
		t, err := l.Tag.tag()
		if err != nil {
			return plan.Plan{}, err
		}
		p.Chain = append(p.Chain, plan.VLANLink{Tag: t, Name: l.Name, AltName: l.AltName, Key: l.Key, MTU: l.MTU})
	}
	if s := f.Switch; s != nil {
		p.Switch = &plan.Switch{Socket: s.Socket, Bridge: s.Bridge, Port: s.Port, Chained: s.Chained}
	}
	var err error
	p.Endpoint, err = f.Endpoint.endpoint()
	return p, err
}

func (e endpointV2) endpoint() (plan.Endpoint, error) {
	if e.Kind == config.LinkNone {
		return plan.NoEndpoint{}, nil
	}
	if e.Link == nil {
		return nil, fmt.Errorf("endpoint of kind %s without its link", e.Kind)
	}
	i := plan.Iface{Name: e.Link.Name, MTU: e.Link.MTU, MAC: e.Link.MAC}
	switch {
	case e.Kind == config.LinkVLAN && e.VLAN != nil:
		t, err := e.VLAN.Tag.tag()
		return &plan.VLANEndpoint{Iface: i, Tag: t, Key: e.VLAN.Key}, err
	case e.Kind == config.LinkMacvlan && e.Macvlan != nil:
		return &plan.MacvlanEndpoint{Iface: i, Mode: e.Macvlan.Mode}, nil
	case e.Kind == config.LinkIpvlan && e.Ipvlan != nil:
		return &plan.IpvlanEndpoint{Iface: i, Mode: e.Ipvlan.Mode}, nil
	case e.Kind == config.LinkBridge && e.Bridge != nil:
		b := &plan.BridgeEndpoint{Iface: i, Bridge: e.Bridge.Bridge, HostName: e.Bridge.HostName, Down: e.Bridge.Down}
		for _, v := range e.Bridge.AllowedCVlans {
			b.AllowedCVlans = append(b.AllowedCVlans, config.VID(v))
		}
		return b, nil
	case e.Kind == config.LinkVeth && e.Veth != nil:
		v := &plan.VethEndpoint{Iface: i, HostName: e.Veth.HostName, PeerName: e.Veth.PeerName, PeerMTU: e.Veth.PeerMTU}
		if e.Veth.CTag != nil {
			t, err := e.Veth.CTag.tag()
			v.CTag = &t
			return v, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("endpoint of kind %q without its %q object", e.Kind, e.Kind)
}

func tagOf(t plan.Tag) tagV2 {
	return tagV2{TPID: fmt.Sprintf("%#04x", uint16(t.Proto)), VID: uint16(t.VID)}
}

func (t tagV2) tag() (plan.Tag, error) {
	switch t.TPID {
	case "0x88a8":
		return plan.Tag{Proto: netlink.VLAN_PROTOCOL_8021AD, VID: config.VID(t.VID)}, nil
	case "0x8100":
		return plan.Tag{Proto: netlink.VLAN_PROTOCOL_8021Q, VID: config.VID(t.VID)}, nil
	}
	return plan.Tag{}, fmt.Errorf("tag with TPID %q (expected 0x88a8 or 0x8100)", t.TPID)
}
