// Package stack computes, without touching the kernel, the stack of VLAN links
// an attachment needs: which links stay shared on the parent's side (the
// S-link, and the outer C-links of QinQinQ), which link moves into the
// container, their names and their MTUs.
package stack

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// TagBytes is what every stacked tag adds to a frame.
const TagBytes = 4

// maxIfName is IFNAMSIZ-1.
const maxIfName = 15

// Link is one VLAN link of the stack.
type Link struct {
	Proto netlink.VlanProtocol
	VID   config.VID
	MTU   int
	// Name is the name to create the link with: for shared links a
	// deterministic name, for the container link CNI_IFNAME.
	Name string
	// AltName is used when Name is already taken by an unrelated link.
	AltName string
	// Key identifies the link by its chain (parent, then each tag), which is
	// what the kernel keys VLAN devices on; references are kept per Key.
	Key string
}

// Parent is what the planner needs to know about the master link.
type Parent struct {
	Name string
	// MTU of the master; 0 when unknown (DEL after the master is gone), in
	// which case no MTU is planned or checked.
	MTU int
}

// Stack is the plan for one attachment.
type Stack struct {
	Parent Parent
	// Shared links stay beside the master, outermost first, and are shared
	// by every attachment with the same outer tags.
	Shared []Link
	// Container is the innermost link; it moves into the container (in
	// tunnel mode it is the S-link itself).
	Container Link
	// InContainer: the master and so the whole stack live in the container.
	InContainer bool
}

// Links returns the whole chain, outermost first.
func (s Stack) Links() []Link { return append(append([]Link{}, s.Shared...), s.Container) }

// ParentOf returns the MTU of the link that l[i] is stacked on.
func (s Stack) parentMTU(i int) int {
	if i == 0 {
		return s.Parent.MTU
	}
	return s.Links()[i-1].MTU
}

// Plan builds the stack for config c on parent, with the container link named
// ifName.
//
// MTU rule: the parent carries one tag within its MTU (the 802.1Q allowance
// that lets a 1500-MTU NIC send 1522-byte tagged frames), and every further
// tag costs 4 bytes: S-link = master, first C-link = master-4, next = master-8.
func Plan(c *config.Config, parent Parent, ifName string) (Stack, error) {
	tags := tagsOf(c)
	st := Stack{Parent: parent, InContainer: c.LinkInContainer}
	key := parent.Name
	for i, t := range tags {
		key += TagKey(t.proto, t.vid)
		l := Link{Proto: t.proto, VID: t.vid, MTU: parent.MTU - TagBytes*i, Key: key}
		l.Name, l.AltName = sharedNames(parent.Name, tags[:i+1], key)
		if i < len(tags)-1 {
			st.Shared = append(st.Shared, l)
			continue
		}
		l.Name, l.AltName = ifName, ""
		st.Container = l
	}
	if parent.MTU == 0 {
		return st, nil
	}
	return st, st.fitMTU(c)
}

// fitMTU applies an explicit mtu to the container link and checks that every
// link keeps a usable MTU.
func (s *Stack) fitMTU(c *config.Config) error {
	n := len(s.Shared)
	if c.MTU != 0 {
		if max := s.parentMTU(n); c.MTU > max {
			return cnierr.InvalidConfig("mtu", "%d: must be %d-%d here (the MTU of the link it stacks on, from master %q with MTU %d)",
				c.MTU, config.MinMTU, max, s.Parent.Name, s.Parent.MTU)
		}
		s.Container.MTU = c.MTU
	}
	for _, l := range s.Links() {
		if l.MTU < config.MinMTU {
			return cnierr.InvalidConfig("master", "%q has MTU %d, which leaves %d for the link with VLAN %d; at least %d is needed",
				s.Parent.Name, s.Parent.MTU, l.MTU, l.VID, config.MinMTU)
		}
	}
	return nil
}

type tag struct {
	proto netlink.VlanProtocol
	vid   config.VID
}

// tagsOf lists the tags outermost first: the S-tag, then the C-tags, which are
// always 802.1Q.
func tagsOf(c *config.Config) []tag {
	tags := []tag{{c.SProto, c.SVlan}}
	for _, v := range c.CVlans {
		tags = append(tags, tag{netlink.VLAN_PROTOCOL_8021Q, v})
	}
	return tags
}

// sharedNames gives a readable name ("eth0.100.50") when it fits in 15
// characters, and a stable hashed one ("qinq1a2b3c4d") to fall back on.
func sharedNames(parent string, tags []tag, key string) (name, alt string) {
	var b strings.Builder
	b.WriteString(parent)
	for _, t := range tags {
		fmt.Fprintf(&b, ".%d", t.vid)
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	alt = fmt.Sprintf("qinq%08x", h.Sum32())
	if b.Len() > maxIfName {
		return alt, alt
	}
	return b.String(), alt
}

// FromKey rebuilds the stack an attachment used from its container link's Key
// (GC has references, not configs). Names other than ifName and MTUs are not
// recovered: links are found by identity.
func FromKey(key, ifName string, inContainer bool) (Stack, error) {
	parts := strings.Split(key, ":")
	if len(parts) < 2 {
		return Stack{}, fmt.Errorf("link key %q has no tags", key)
	}
	st := Stack{Parent: Parent{Name: parts[0]}, InContainer: inContainer}
	k := parts[0]
	for i, p := range parts[1:] {
		var proto, vid int
		if _, err := fmt.Sscanf(p, "%04x.%d", &proto, &vid); err != nil {
			return Stack{}, fmt.Errorf("link key %q: tag %q: %w", key, p, err)
		}
		k += ":" + p
		l := Link{Proto: netlink.VlanProtocol(proto), VID: config.VID(vid), Key: k}
		if i == len(parts)-2 {
			l.Name = ifName
			st.Container = l
		} else {
			st.Shared = append(st.Shared, l)
		}
	}
	return st, nil
}

// TagKey is one tag's part of a link key: a key is the parent's name followed
// by TagKey of every tag, outermost first ("eth0:88a8.100:8100.10").
func TagKey(proto netlink.VlanProtocol, vid config.VID) string {
	return fmt.Sprintf(":%04x.%d", uint16(proto), vid)
}
