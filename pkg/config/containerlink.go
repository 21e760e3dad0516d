package config

import (
	"slices"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// ContainerLink is the kind of link the container gets.
type ContainerLink string

const (
	// LinkVLAN: the innermost VLAN link moves into the container (one
	// container per (S, C) per node: the kernel allows one VLAN link per ID
	// on a parent).
	LinkVLAN ContainerLink = "vlan"
	// LinkMacvlan: a macvlan on the innermost VLAN link, which stays on the
	// host and is shared: any number of containers per (S, C), each with its
	// own MAC.
	LinkMacvlan ContainerLink = "macvlan"
	// LinkIpvlan: an ipvlan on the shared innermost VLAN link: any number
	// of containers, all behind the parent's MAC.
	LinkIpvlan ContainerLink = "ipvlan"
)

// linkModes lists, per container link kind, its modes, the default first.
var linkModes = map[ContainerLink][]string{
	LinkMacvlan: {"bridge", "private", "vepa"},
	LinkIpvlan:  {"l2", "l3", "l3s"},
}

// Shared reports whether the innermost VLAN link stays on the host, shared
// by the containers that each get a macvlan or ipvlan on it.
func (l ContainerLink) Shared() bool { return l == LinkMacvlan || l == LinkIpvlan }

func (c *Config) fillContainerLink(raw *rawConfig) error {
	c.ContainerLink = ContainerLink(raw.ContainerLink)
	c.ContainerLinkChosen = raw.ContainerLink != ""
	switch c.ContainerLink {
	case "":
		c.ContainerLink = LinkVLAN
	case LinkVLAN, LinkMacvlan, LinkIpvlan:
	default:
		return InvalidValue("containerLink", raw.ContainerLink)
	}
	if err := c.fillLinkMode(raw.LinkMode); err != nil {
		return err
	}
	return c.checkLinkCombination()
}

func (c *Config) fillLinkMode(mode string) error {
	modes := linkModes[c.ContainerLink]
	switch {
	case mode == "" && modes == nil:
		return nil
	case modes == nil:
		return cnierr.InvalidConfig("containerLinkMode", "%q: only used with containerLink \"macvlan\" (%s) or \"ipvlan\" (%s); a vlan container link has no mode",
			mode, quoteList(linkModes[LinkMacvlan]), quoteList(linkModes[LinkIpvlan]))
	case mode == "":
		c.ContainerLinkMode = modes[0]
		return nil
	case !slices.Contains(modes, mode):
		return cnierr.InvalidConfig("containerLinkMode", "%q: with containerLink %q must be %s", mode, c.ContainerLink, quoteList(modes))
	}
	c.ContainerLinkMode = mode
	return nil
}

// checkLinkCombination refuses what a shared container link cannot do.
func (c *Config) checkLinkCombination() error {
	if !c.ContainerLink.Shared() {
		return nil
	}
	switch {
	case c.LinkInContainer:
		return cnierr.InvalidConfig("containerLink", "%q cannot be used with linkInContainer: the shared VLAN link would live in one container, "+
			"so no second container could share it; use \"vlan\"", c.ContainerLink)
	case c.Backend == BackendOVS:
		return cnierr.InvalidConfig("containerLink", "%q cannot be used in mode \"ovs\": OVS gives each container its own port and veth; use \"vlan\" (the default)", c.ContainerLink)
	case c.ContainerLink == LinkIpvlan && c.TunnelMode():
		// The kernel refuses a VLAN link on an ipvlan ("VLANs not supported
		// on device"), so a router in tunnel mode could never tag.
		return cnierr.InvalidConfig("containerLink", "\"ipvlan\" cannot be used in tunnel mode (no cVlans): the kernel refuses VLAN links on an ipvlan, "+
			"so the container could never tag its C-VLANs; use \"macvlan\" or \"vlan\", or give cVlans")
	case c.ContainerLink == LinkIpvlan && c.MAC != nil:
		return cnierr.InvalidConfig(c.macKey, "%s: an ipvlan container link has the MAC of the link it sits on and cannot take its own; "+
			"use containerLink \"macvlan\" for a MAC per container", c.MAC)
	}
	return nil
}

// InvalidValue is code 7 for a value outside a key's fixed set.
func InvalidValue(key, value string) error {
	return cnierr.InvalidConfig(key, "%q: must be %s", value, expected[key])
}

// quoteList spells ["a","b","c"] as `"a", "b" or "c"`.
func quoteList(items []string) string {
	out := ""
	for i, it := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			out += " or "
		default:
			out += ", "
		}
		out += `"` + it + `"`
	}
	return out
}
