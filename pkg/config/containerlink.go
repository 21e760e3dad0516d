package config

import (
	"slices"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// ContainerLink is the kind of link the container gets: the one type for it
// in every package (a plan's endpoint, the record's "kind", the policy's
// containerLinks).
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
	// LinkBridge: a veth pair per container whose host end is a port of a
	// Linux bridge on the innermost VLAN link; the bridge and that link live
	// in qinq's own network namespace, so no VLAN device is in the container
	// and the node's netfilter never sees the tenant's frames. Any number of
	// containers per (S, C), each with its own MAC, and VMs behind them.
	LinkBridge ContainerLink = "bridge"
	// LinkVeth (OVS mode, not a containerLink value): a veth pair whose host
	// end is an OVS port; with a C-tag, a VLAN link in the container stacks
	// on the veth's container end.
	LinkVeth ContainerLink = "veth"
	// LinkNone (OVS chained mode): no container link of qinq's own; the port
	// an earlier plugin made is reconfigured.
	LinkNone ContainerLink = "none"
)

// linkModes lists, per container link kind, its modes, the default first.
var linkModes = map[ContainerLink][]string{
	LinkMacvlan: {"bridge", "private", "vepa"},
	LinkIpvlan:  {"l2", "l3", "l3s"},
}

// Shared reports whether the innermost VLAN link stays beside the master,
// shared by the containers that each get a macvlan, an ipvlan or a bridge
// port on it.
func (l ContainerLink) Shared() bool { return l == LinkMacvlan || l == LinkIpvlan || l == LinkBridge }

func (c *Config) fillContainerLink(raw *rawConfig) error {
	c.ContainerLink = ContainerLink(raw.ContainerLink)
	c.ContainerLinkChosen = raw.ContainerLink != ""
	switch c.ContainerLink {
	case "":
		c.ContainerLink = c.defaultContainerLink()
	case LinkVLAN, LinkMacvlan, LinkIpvlan, LinkBridge:
	default:
		return InvalidValue("containerLink", raw.ContainerLink)
	}
	if err := c.fillLinkMode(raw.LinkMode); err != nil {
		return err
	}
	if err := c.fillDisableContainerInterface(raw); err != nil {
		return err
	}
	return c.checkLinkCombination()
}

// fillDisableContainerInterface: only a bridge port can stay down while the
// chain carries the pod's VM elsewhere, and an address on a link left down
// would be a lie to the runtime.
func (c *Config) fillDisableContainerInterface(raw *rawConfig) error {
	if !raw.DisableContainerInterface {
		return nil
	}
	switch {
	case c.ContainerLink != LinkBridge:
		return cnierr.InvalidConfig("disableContainerInterface", "true is only used with containerLink \"bridge\" (here %q): "+
			"the other container links come up with the pod", c.ContainerLink)
	case raw.IPAM.Type != "":
		return cnierr.InvalidConfig("disableContainerInterface", "true cannot be used with ipam (here %q): "+
			"the interface stays down, and the VM behind it brings its own addresses", raw.IPAM.Type)
	}
	c.DisableContainerInterface = true
	return nil
}

// defaultContainerLink keeps every VLAN device out of the container where it
// can: a pod holding its VLAN link can choose its own tags (reorder_hdr off).
// OVS mode and linkInContainer have only the vlan endpoint.
func (c *Config) defaultContainerLink() ContainerLink {
	if c.Backend == BackendKernel && !c.LinkInContainer {
		return LinkBridge
	}
	return LinkVLAN
}

// fillKernelAllowedCVlans: in kernel mode allowedCVlans filters what a router
// behind a tunnel-mode bridge may send (the bridge's VLAN filter), so it
// needs both.
func (c *Config) fillKernelAllowedCVlans(raw *rawConfig) error {
	if raw.AllowedCVlans == nil {
		return nil
	}
	if c.ContainerLink != LinkBridge || len(raw.CVlans) > 0 {
		return cnierr.InvalidConfig("allowedCVlans", "only used with \"mode\": \"ovs\", or in kernel mode with containerLink \"bridge\" in tunnel mode "+
			"(no cVlans), where it limits the C-VLANs the container may send")
	}
	vids, err := allowedCVlans(raw.AllowedCVlans)
	c.AllowedCVlans = vids
	return err
}

func (c *Config) fillLinkMode(mode string) error {
	modes := linkModes[c.ContainerLink]
	switch {
	case mode == "" && modes == nil:
		return nil
	case modes == nil:
		return cnierr.InvalidConfig("containerLinkMode", "%q: only used with containerLink \"macvlan\" (%s) or \"ipvlan\" (%s); a vlan or bridge container link has no mode",
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
