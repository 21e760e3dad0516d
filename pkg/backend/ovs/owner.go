package ovs

import "github.com/qinq-cni/qinq/pkg/plan"

// external_ids keys qinq writes on the ports it makes (standalone) or
// reconfigures (chained): the same attachment the local record names, kept
// on the port itself because OVSDB outlives /run across a reboot. A port
// without keyOwner=ownerValue is never touched by DEL or GC.
const (
	keyOwner       = "qinq-cni-owner"
	ownerValue     = "qinq-cni"
	keyNetwork     = "qinq-cni-network"
	keyContainerID = "qinq-cni-container-id"
	keyIfName      = "qinq-cni-ifname"
	keyNetns       = "qinq-cni-netns"
	// keySaved (chained only) holds the port's VLAN settings before qinq
	// changed them, as ovsdb.VLAN.Encode.
	keySaved = "qinq-cni-saved-vlan"
)

// ownerIDs are the external_ids that mark a port as a's.
func ownerIDs(a plan.Attachment) map[string]string {
	return map[string]string{
		keyOwner: ownerValue, keyNetwork: a.Network, keyContainerID: a.ContainerID,
		keyIfName: a.IfName, keyNetns: a.Netns,
	}
}

// ownerKeys lists every key qinq may have written, to remove them all.
func ownerKeys() []string {
	return []string{keyOwner, keyNetwork, keyContainerID, keyIfName, keyNetns, keySaved}
}

// ownerOf reads the attachment a port belongs to; ok is false when qinq does
// not own the port.
func ownerOf(ids map[string]string) (a plan.Attachment, ok bool) {
	if ids[keyOwner] != ownerValue {
		return plan.Attachment{}, false
	}
	return plan.Attachment{Network: ids[keyNetwork], ContainerID: ids[keyContainerID], IfName: ids[keyIfName], Netns: ids[keyNetns]}, true
}

// sameAttachment compares by network, container ID and interface: the netns
// path may differ between ADD and DEL.
func sameAttachment(x, y plan.Attachment) bool {
	return x.Network == y.Network && x.ContainerID == y.ContainerID && x.IfName == y.IfName
}
