// Package plan computes, without touching the kernel or OVS, what one
// attachment needs: the shared chain beside the master (the S-link and the
// outer C-links of QinQinQ: names, keys, MTUs) and the typed container
// endpoint (a VLAN link, a macvlan or ipvlan, or a veth end behind an OVS
// port). What ADD built is recorded from its plan (pkg/record, a versioned
// format of its own), and DEL and GC undo an attachment by that plan.
package plan

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// TagBytes is what every stacked tag adds to a frame.
const TagBytes = 4

// maxIfName is IFNAMSIZ-1.
const maxIfName = 15

// Attachment is one (container, interface) pair: the unit of CNI.
type Attachment struct {
	ContainerID string
	IfName      string
	Netns       string
	Network     string
}

// ID names the attachment's record. ':' is allowed neither in a container ID
// nor in an interface name, so two attachments never share one.
func (a Attachment) ID() string { return a.ContainerID + ":" + a.IfName }

// Tag is one VLAN tag: its TPID and ID.
type Tag struct {
	Proto netlink.VlanProtocol
	VID   config.VID
}

// Key is the tag's part of a link key: a key is the master's name followed
// by the Key of every tag, outermost first ("eth0:88a8.100:8100.10").
func (t Tag) Key() string { return fmt.Sprintf(":%04x.%d", uint16(t.Proto), t.VID) }

func (t Tag) String() string { return fmt.Sprintf("%s VLAN %d", config.ProtoName(t.Proto), t.VID) }

// VLANLink is one VLAN link of the chain beside the master.
type VLANLink struct {
	Tag
	// Name is the deterministic name to create it with; AltName (hashed) is
	// used when Name is too long or taken by an unrelated link.
	Name    string
	AltName string
	// Key identifies the link by its chain (master, then each tag), which is
	// what the kernel keys VLAN devices on; its users are recorded per Key.
	Key string
	MTU int
}

// Master is the link the chain starts on: the parent NIC, or in OVS mode the
// bridge. MTU 0 means unknown (DEL after it is gone): nothing is checked.
type Master struct {
	Name string
	MTU  int
}

// Switch is where an OVS attachment lives.
type Switch struct {
	Socket string
	Bridge string
	// Port is the OVS port: the veth's host end (standalone), or the port an
	// earlier plugin made (chained), found by the OVS backend.
	Port    string
	Chained bool
}

// Plan is everything one attachment is made of.
type Plan struct {
	Attachment Attachment
	Backend    config.Backend
	Master     Master
	// Chain are the shared VLAN links beside the master, outermost first,
	// shared by every attachment with the same outer tags.
	Chain    []VLANLink
	Endpoint Endpoint
	// InContainer: the master and so the whole chain live in the container
	// (linkInContainer).
	InContainer bool
	Switch      *Switch
	// L2ProtocolTunnel (tunnel mode): the pods' reserved 802.1 frames leave,
	// pause excepted. Not recorded: CHECK reads it from the config.
	L2ProtocolTunnel bool
	// ReservedFiltered: the kernel backend filters reserved 802.1 frames
	// on this attachment's links (every plan of this release; recorded, so
	// CHECK does not hold a pod an older release made to it).
	ReservedFiltered bool
}

// For plans attachment a of config c on a master (or bridge) whose MTU is
// masterMTU; 0 plans without MTUs (DEL) and never refuses for an MTU.
//
// MTU rule: the master carries one tag within its MTU (the 802.1Q allowance
// that lets a 1500-MTU NIC send 1522-byte tagged frames), and every further
// tag costs 4 bytes: S-link = master, first C-link = master-4, next = master-8.
func For(c *config.Config, a Attachment, masterMTU int) (Plan, error) {
	return ForFound(c, a, masterMTU, nil)
}

// ForFound is For on a node where the first len(found) links of the chain
// already exist, with the MTUs found[i] (outermost first): an existing link
// keeps its MTU (an admin's smaller S-link, or one made before the master's
// MTU was raised), and every link and the endpoint above it are planned from
// it. The caller reads the MTUs; the plan stays pure.
func ForFound(c *config.Config, a Attachment, masterMTU int, found []int) (Plan, error) {
	p := Plan{Attachment: a, Backend: c.Backend, InContainer: c.LinkInContainer, L2ProtocolTunnel: c.L2ProtocolTunnel}
	if c.Backend == config.BackendOVS {
		p.ovs(c, masterMTU)
	} else {
		p.kernel(c, masterMTU, found)
		p.ReservedFiltered = true
	}
	if masterMTU == 0 || p.Endpoint.Link() == nil {
		return p, nil
	}
	return p, p.fitMTU(c)
}

// kernel: the chain is every tag but the innermost, which the container's
// VLAN link carries (in tunnel mode that is the S-tag itself); with a shared
// container link the chain is every tag, and the container's macvlan or
// ipvlan sits on its last link with that link's MTU.
func (p *Plan) kernel(c *config.Config, mtu int, found []int) {
	p.Master = Master{Name: c.Master, MTU: mtu}
	tags := tagsOf(c)
	key := c.Master
	parent := mtu // the MTU of the link the next one stacks on
	for i, t := range tags {
		key += t.Key()
		linkMTU := parent
		if i > 0 && parent != 0 {
			linkMTU = parent - TagBytes // the first tag rides in the master's allowance
		}
		if i == len(tags)-1 && !c.ContainerLink.Shared() {
			p.Endpoint = &VLANEndpoint{Iface: Iface{Name: p.Attachment.IfName, MTU: linkMTU, MAC: macOf(c)}, Tag: t, Key: key}
			return
		}
		if i < len(found) && found[i] > 0 {
			linkMTU = found[i]
		}
		name, alt := sharedNames(c.Master, tags[:i+1], key)
		p.Chain = append(p.Chain, VLANLink{Tag: t, Name: name, AltName: alt, Key: key, MTU: linkMTU})
		parent = linkMTU
	}
	top := p.Chain[len(p.Chain)-1]
	iface := Iface{Name: p.Attachment.IfName, MTU: top.MTU, MAC: macOf(c)}
	switch c.ContainerLink {
	case config.LinkIpvlan:
		p.Endpoint = &IpvlanEndpoint{Iface: iface, Mode: c.ContainerLinkMode}
	case config.LinkBridge:
		a := p.Attachment
		p.Endpoint = &BridgeEndpoint{Iface: iface, Bridge: BridgeName(top.Key),
			HostName: BridgePortName(a.Network, a.ContainerID, a.IfName), AllowedCVlans: c.AllowedCVlans,
			Down: c.DisableContainerInterface}
	default:
		p.Endpoint = &MacvlanEndpoint{Iface: iface, Mode: c.ContainerLinkMode}
	}
}

// Joined is the chain link a bridge endpoint's bridge joins: the last one.
func (p Plan) Joined() VLANLink { return p.Chain[len(p.Chain)-1] }

// ovs: OVS adds the S-tag at the port; the container gets a veth end, and
// with a C-VLAN a VLAN link on it, so the container sees untagged frames.
// Chained, the port is an earlier plugin's and there is no endpoint.
func (p *Plan) ovs(c *config.Config, mtu int) {
	p.Switch = &Switch{Socket: c.OVSDBSocket, Bridge: c.Bridge, Chained: c.Chained()}
	if c.Chained() {
		p.Endpoint = NoEndpoint{}
		return
	}
	a := p.Attachment
	p.Master = Master{Name: c.Bridge, MTU: mtu}
	e := &VethEndpoint{Iface: Iface{Name: a.IfName, MTU: mtu, MAC: macOf(c)}, PeerName: a.IfName, PeerMTU: mtu,
		HostName: HostVethName(a.Network, a.ContainerID, a.IfName)}
	if len(c.CVlans) > 0 {
		e.CTag = &Tag{Proto: netlink.VLAN_PROTOCOL_8021Q, VID: c.CVlans[0]}
		e.PeerName, e.MTU = ContainerVethName(a.IfName), mtu-TagBytes
	}
	p.Switch.Port = e.HostName
	p.Endpoint = e
}

func macOf(c *config.Config) string {
	if c.MAC == nil {
		return ""
	}
	return c.MAC.String()
}

// Links returns the chain's links and, for a VLAN endpoint, the endpoint as
// a link too: every link keyed by its tags, outermost first.
func (p Plan) Links() []VLANLink {
	out := append([]VLANLink{}, p.Chain...)
	if e, ok := p.Endpoint.(*VLANEndpoint); ok {
		out = append(out, e.AsLink())
	}
	return out
}

// onTopMTU is the MTU of the link the endpoint sits on.
func (p Plan) onTopMTU() int {
	if e, ok := p.Endpoint.(*VethEndpoint); ok && e.CTag != nil {
		return e.PeerMTU
	}
	if len(p.Chain) > 0 {
		return p.Chain[len(p.Chain)-1].MTU
	}
	return p.Master.MTU
}

// onTopName names the link the endpoint sits on, for messages.
func (p Plan) onTopName() string {
	if e, ok := p.Endpoint.(*VethEndpoint); ok && e.CTag != nil {
		return e.PeerName
	}
	if len(p.Chain) > 0 {
		return p.Chain[len(p.Chain)-1].Name
	}
	return p.Master.Name
}

// fitMTU applies an explicit mtu to the endpoint and checks that every link
// keeps a usable MTU.
func (p *Plan) fitMTU(c *config.Config) error {
	e := p.Endpoint.Link()
	if c.MTU != 0 {
		if max := p.onTopMTU(); c.MTU > max {
			return cnierr.InvalidConfig("mtu", "%d: must be %d-%d here: %q, the link it stacks on, has MTU %d (%s %q has MTU %d)",
				c.MTU, config.MinMTU, max, p.onTopName(), p.onTopMTU(), p.masterKey(), p.Master.Name, p.Master.MTU)
		}
		e.MTU = c.MTU
	}
	for _, l := range p.Links() {
		if l.MTU < config.MinMTU {
			return cnierr.InvalidConfig(p.masterKey(), "%q has MTU %d, which leaves %d for the link with VLAN %d; at least %d is needed",
				p.Master.Name, p.Master.MTU, l.MTU, l.VID, config.MinMTU)
		}
	}
	if e.MTU < config.MinMTU {
		return cnierr.InvalidConfig(p.masterKey(), "%q has MTU %d, which leaves %d for %s; at least %d is needed",
			p.Master.Name, p.Master.MTU, e.MTU, e.Name, config.MinMTU)
	}
	return nil
}

// masterKey is the config key naming the master.
func (p Plan) masterKey() string {
	if p.Backend == config.BackendOVS {
		return "bridge"
	}
	return "master"
}

// tagsOf lists the tags outermost first: the S-tag, then the C-tags, which are
// always 802.1Q.
func tagsOf(c *config.Config) []Tag {
	tags := []Tag{{c.SProto, c.SVlan}}
	for _, v := range c.CVlans {
		tags = append(tags, Tag{netlink.VLAN_PROTOCOL_8021Q, v})
	}
	return tags
}

// sharedNames gives a readable name ("eth0.100.50") when it fits in 15
// characters, and a stable hashed one ("qinq" and 64 bits of digest) to fall
// back on.
func sharedNames(master string, tags []Tag, key string) (name, alt string) {
	var b strings.Builder
	b.WriteString(master)
	for _, t := range tags {
		fmt.Fprintf(&b, ".%d", t.VID)
	}
	alt = sharedPrefix + digest64(key)
	if b.Len() > maxIfName {
		return alt, alt
	}
	return b.String(), alt
}

const sharedPrefix = "qinq"

// Names are the names l may have on a node: its planned ones, then the
// hashed one releases before 64-bit digests gave it, which a link they made
// still carries.
func (l VLANLink) Names() []string {
	out := []string{}
	for _, n := range []string{l.Name, l.AltName, sharedPrefix + legacyHash32(l.Key)} {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// digest64 names a key within IFNAMSIZ: the first 64 bits of its SHA-256,
// base64url (11 characters; '-' and '_' are valid in link names). A
// deliberate collision, or a name chosen to match another tenant's, costs
// about 2^64 tries: FNV-32, used before, collided in seconds.
func digest64(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// legacyHash32 is the 32-bit FNV-1a digest names had before digest64: the
// links and ports the previous releases made still carry it.
func legacyHash32(parts ...string) string {
	h := fnv.New32a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return fmt.Sprintf("%08x", h.Sum32())
}

// digestLen is the length of digest64's output.
const digestLen = 11

// HostVethName is the host end of an OVS attachment's veth, and so the OVS
// port's name: stable per attachment (at most 15 characters), so that DEL
// finds it even when OVSDB has lost the port.
func HostVethName(network, containerID, ifName string) string {
	return hostVethPrefix + digest64(network, containerID, ifName)
}

// LegacyHostVethName is HostVethName as releases before 64-bit digests gave it.
func LegacyHostVethName(network, containerID, ifName string) string {
	return hostVethPrefix + legacyHash32(network, containerID, ifName)
}

const hostVethPrefix = "qovs"

// IsHostVethName recognises HostVethName's output, "qovs" and 11 base64url
// characters, and the previous releases' ("qovs" and 8 hex digits).
func IsHostVethName(name string) bool {
	rest, ok := strings.CutPrefix(name, hostVethPrefix)
	switch {
	case !ok:
		return false
	case len(rest) == 8:
		return strings.Trim(rest, "0123456789abcdef") == ""
	case len(rest) == digestLen:
		b, err := base64.RawURLEncoding.DecodeString(rest)
		return err == nil && len(b) == 8
	}
	return false
}

// BridgeName is the bridge on the chain link keyed key (one per link).
func BridgeName(key string) string { return bridgePrefix + digest64(key) }

const bridgePrefix = "qbr"

// BridgeNames are the names the bridge of key may have on a node: recorded
// (what an ADD planned, "" if unknown), this release's, then the previous
// releases' (FNV-32), which a bridge they made keeps while it lives.
func BridgeNames(recorded, key string) []string {
	out := []string{}
	for _, n := range []string{recorded, BridgeName(key), bridgePrefix + legacyHash32(key)} {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// BridgePortName is the host end of a bridge attachment's veth: stable per
// attachment, so DEL finds it even when the container end was renamed (as
// KubeVirt does) or its netns is gone.
func BridgePortName(network, containerID, ifName string) string {
	return "qbp" + digest64(network, containerID, ifName)
}

// ContainerVethName is the name of the container's veth end when a C-link
// stacks on it; CNI_IFNAME goes to the C-link.
func ContainerVethName(ifName string) string {
	if len(ifName)+4 <= maxIfName {
		return ifName + "-ovs"
	}
	return "qovc" + digest64(ifName)
}

// Differs says how recorded, what an ADD built, differs from planned, what
// the config asks for now, in what CHECK must report: the backend, the
// master, the VLANs, and the endpoint's kind when the config names it (a
// default that changed between releases is no difference: the pod keeps
// what it was built with). "" when they agree.
func Differs(recorded, planned Plan, kindChosen bool) string {
	switch {
	case recorded.Backend != planned.Backend:
		return fmt.Sprintf("built in mode %q, configured as %q", recorded.Backend, planned.Backend)
	case recorded.Master.Name != planned.Master.Name:
		return fmt.Sprintf("built on %q, configured on %q", recorded.Master.Name, planned.Master.Name)
	case recorded.innermostKey() != planned.innermostKey():
		return fmt.Sprintf("built with VLANs %s, configured with %s", recorded.innermostKey(), planned.innermostKey())
	case kindChosen && recorded.Endpoint.Kind() != planned.Endpoint.Kind():
		return fmt.Sprintf("built as a %s container link, configured as %s", recorded.Endpoint.Kind(), planned.Endpoint.Kind())
	}
	return ""
}

// innermostKey names every tag of the attachment: the key of its innermost
// link (OVS: the port and its C-tag, the S-tag being the port's).
func (p Plan) innermostKey() string {
	if links := p.Links(); len(links) > 0 {
		return links[len(links)-1].Key
	}
	if e, ok := p.Endpoint.(*VethEndpoint); ok && e.CTag != nil {
		return p.Master.Name + e.CTag.Key()
	}
	return p.Master.Name
}
