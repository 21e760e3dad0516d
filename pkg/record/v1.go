package record

import (
	"encoding/json"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// fileV1 is format 1, frozen as releases up to 86e0223 wrote it: the plan's
// JSON of the time, one struct for every endpoint kind, stored under
// attachments/<containerID>:<ifName> with no network in its path.
type fileV1 struct {
	Attachment struct {
		ContainerID string `json:"containerID"`
		IfName      string `json:"ifName"`
		Netns       string `json:"netns"`
		Network     string `json:"network"`
	} `json:"attachment"`
	Backend string `json:"backend"`
	Master  struct {
		Name string `json:"name"`
		MTU  int    `json:"mtu"`
	} `json:"master"`
	Chain []struct {
		tagV1
		Name    string `json:"name"`
		AltName string `json:"altName"`
		Key     string `json:"key"`
		MTU     int    `json:"mtu"`
	} `json:"chain"`
	Endpoint struct {
		Kind     string `json:"kind"`
		Name     string `json:"name"`
		MTU      int    `json:"mtu"`
		MAC      string `json:"mac"`
		Tag      tagV1  `json:"tag"`
		Key      string `json:"key"`
		Mode     string `json:"mode"`
		HostName string `json:"hostName"`
		VethName string `json:"vethName"`
		VethMTU  int    `json:"vethMTU"`
	} `json:"endpoint"`
	InContainer bool `json:"inContainer"`
	Switch      *struct {
		Socket  string `json:"socket"`
		Bridge  string `json:"bridge"`
		Port    string `json:"port"`
		Chained bool   `json:"chained"`
	} `json:"switch"`
}

// tagV1: netlink's protocol enum as a number (34984 for 0x88a8).
type tagV1 struct {
	Proto int    `json:"proto"`
	VID   uint16 `json:"vid"`
}

func (t tagV1) tag() plan.Tag {
	return plan.Tag{Proto: netlink.VlanProtocol(t.Proto), VID: config.VID(t.VID)}
}

func decodeV1(data []byte) (plan.Plan, error) {
	var f fileV1
	if err := json.Unmarshal(data, &f); err != nil {
		return plan.Plan{}, err
	}
	a := f.Attachment
	p := plan.Plan{
		Attachment: plan.Attachment{ContainerID: a.ContainerID, IfName: a.IfName, Netns: a.Netns, Network: a.Network},
		Backend:    config.Backend(f.Backend), Master: plan.Master{Name: f.Master.Name, MTU: f.Master.MTU},
		InContainer: f.InContainer,
	}
	for _, l := range f.Chain {
		p.Chain = append(p.Chain, plan.VLANLink{Tag: l.tag(), Name: l.Name, AltName: l.AltName, Key: l.Key, MTU: l.MTU})
	}
	if s := f.Switch; s != nil {
		p.Switch = &plan.Switch{Socket: s.Socket, Bridge: s.Bridge, Port: s.Port, Chained: s.Chained}
	}
	var err error
	p.Endpoint, err = f.endpoint()
	return p, err
}

func (f fileV1) endpoint() (plan.Endpoint, error) {
	e := f.Endpoint
	i := plan.Iface{Name: e.Name, MTU: e.MTU, MAC: e.MAC}
	switch config.ContainerLink(e.Kind) {
	case config.LinkVLAN:
		return &plan.VLANEndpoint{Iface: i, Tag: e.Tag.tag(), Key: e.Key}, nil
	case config.LinkMacvlan:
		return &plan.MacvlanEndpoint{Iface: i, Mode: e.Mode}, nil
	case config.LinkIpvlan:
		return &plan.IpvlanEndpoint{Iface: i, Mode: e.Mode}, nil
	case config.LinkVeth:
		v := &plan.VethEndpoint{Iface: i, HostName: e.HostName, PeerName: e.VethName, PeerMTU: e.VethMTU}
		if e.Tag.VID != 0 {
			t := e.Tag.tag()
			v.CTag = &t
		}
		return v, nil
	case config.LinkNone:
		return plan.NoEndpoint{}, nil
	}
	return nil, fmt.Errorf("format 1 endpoint of kind %q", e.Kind)
}
