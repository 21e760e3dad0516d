package netdev

import (
	"errors"
	"io/fs"
	"os"

	"github.com/containernetworking/plugins/pkg/utils/sysctl"
)

// hostLinkSettings keep the node's own stack out of a link that carries
// tenant frames (see docs/security.md). Each is a per-link value that holds
// whatever the node's "all" value is: the kernel takes the larger of the two
// for arp_ignore and rp_filter, disable_ipv6 is the link's own, and
// accept_ra and addr_gen_mode are read per link only.
var hostLinkSettings = []struct{ family, key, value string }{
	// IPv6 is weak-host: a link without an address still delivers to the
	// node's other addresses, so the protocol goes, not just the address.
	{"ipv6", "disable_ipv6", "1"},
	// Should "all.disable_ipv6=0" be written later (it is copied to every
	// link), the link still gets no link-local address and takes no RA.
	{"ipv6", "addr_gen_mode", "1"}, // IN6_ADDR_GEN_MODE_NONE
	{"ipv6", "accept_ra", "0"},
	// No ARP reply for any of the node's addresses.
	{"ipv4", "arp_ignore", "8"},
	// Strict reverse-path filtering on a link with no address drops every
	// IPv4 packet addressed to, or routed through, the node
	// (__fib_validate_source: no address, so no valid reverse path).
	{"ipv4", "rp_filter", "1"},
}

// IsolateHostLink sets hostLinkSettings on the link name in the network
// namespace of the calling thread. Call it while the link is still down,
// before it gets an IPv6 address: the settings follow the link through a
// rename, so a link born under a temporary name is isolated under it.
func IsolateHostLink(name string) error {
	for _, s := range hostLinkSettings {
		// Slashes as separators: a name may contain dots (eth1.100).
		key := "net/" + s.family + "/conf/" + name + "/" + s.key
		if _, err := sysctl.Sysctl(key, s.value); err != nil {
			if errors.Is(err, fs.ErrNotExist) && s.family == "ipv6" && noIPv6(name) {
				continue // the kernel has no IPv6 on this link to turn off
			}
			return Error("isolate "+name+" from the node ("+key+"="+s.value+")", err)
		}
	}
	return nil
}

// noIPv6 reports whether the link has no IPv6 device: IPv6 is off in the
// kernel (ipv6.disable=1), or the link's MTU is below 1280.
func noIPv6(name string) bool {
	_, err := os.Stat("/proc/sys/net/ipv6/conf/" + name)
	return errors.Is(err, fs.ErrNotExist)
}
