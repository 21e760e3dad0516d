package ovs

import (
	"fmt"
	"hash/fnv"

	"github.com/qinq-cni/qinq/pkg/refs"
)

// external_ids keys qinq writes on the ports it makes (standalone) or
// reconfigures (chained). A port without KeyOwner=OwnerValue is never touched
// by DEL or GC.
const (
	KeyOwner       = "qinq-cni-owner"
	OwnerValue     = "qinq-cni"
	KeyNetwork     = "qinq-cni-network"
	KeyContainerID = "qinq-cni-container-id"
	KeyIfName      = "qinq-cni-ifname"
	KeyNetns       = "qinq-cni-netns"
	// KeySaved (chained only) holds the port's VLAN settings before qinq
	// changed them, as VLAN.Encode.
	KeySaved = "qinq-cni-saved-vlan"
)

// Owner identifies the attachment a port belongs to.
type Owner struct {
	Network, ContainerID, IfName, Netns string
}

// Attachment is the CNI attachment o describes.
func (o Owner) Attachment() refs.Attachment {
	return refs.Attachment{ContainerID: o.ContainerID, IfName: o.IfName, Netns: o.Netns, Network: o.Network}
}

// ExternalIDs are the ownership keys to record for o.
func (o Owner) ExternalIDs() map[string]string {
	return map[string]string{
		KeyOwner: OwnerValue, KeyNetwork: o.Network, KeyContainerID: o.ContainerID,
		KeyIfName: o.IfName, KeyNetns: o.Netns,
	}
}

// OwnerKeys lists every key qinq may have written, to remove them all.
func OwnerKeys() []string {
	return []string{KeyOwner, KeyNetwork, KeyContainerID, KeyIfName, KeyNetns, KeySaved}
}

// OwnerOf reads the ownership keys; ok is false when qinq does not own the port.
func OwnerOf(ids map[string]string) (o Owner, ok bool) {
	if ids[KeyOwner] != OwnerValue {
		return Owner{}, false
	}
	return Owner{Network: ids[KeyNetwork], ContainerID: ids[KeyContainerID], IfName: ids[KeyIfName], Netns: ids[KeyNetns]}, true
}

// Is reports whether the port owned by o belongs to the attachment (network,
// container ID, interface): the netns path may differ between ADD and DEL.
func (o Owner) Is(other Owner) bool {
	return o.Network == other.Network && o.ContainerID == other.ContainerID && o.IfName == other.IfName
}

// HostVethName is the host end of a standalone attachment's veth, and so the
// OVS port's name: stable per attachment (at most 15 characters), so that
// DEL finds it even when OVSDB has lost the port.
func HostVethName(network, containerID, ifName string) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%s\x00%s", network, containerID, ifName)
	return fmt.Sprintf("qovs%08x", h.Sum32())
}

// IsHostVethName recognises HostVethName's output: "qovs" and 8 hex digits.
func IsHostVethName(name string) bool {
	var h uint32
	n, err := fmt.Sscanf(name, "qovs%08x", &h)
	return err == nil && n == 1 && len(name) == 12
}

// ContainerVethName is the name of the container's veth end when C-links
// stack on it (cVlans given); CNI_IFNAME goes to the innermost C-link.
func ContainerVethName(ifName string) string {
	if len(ifName)+4 <= 15 {
		return ifName + "-ovs"
	}
	h := fnv.New32a()
	h.Write([]byte(ifName))
	return fmt.Sprintf("qovc%08x", h.Sum32())
}
