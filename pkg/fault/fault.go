// Package fault marks the steps of an ADD where tests inject a failure or a
// crash. In a normal build Point does nothing and costs nothing; the
// test-only binary bin/qinq-faults is built with -tags faultinject.
package fault

// Points, in the order an ADD passes them.
const (
	Record        = "record"         // the attachment's plan is recorded
	SharedRef     = "shared-ref"     // a user of a shared link was recorded
	SharedLink    = "shared-link"    // a shared link exists (found or created)
	ContainerRef  = "container-ref"  // the container VLAN link's user was recorded
	Bridge        = "bridge"         // the bridge exists, its uplink a port of it
	ContainerLink = "container-link" // the container link exists, down
	Renamed       = "renamed"        // the container link is up (the name stays: fault lists name it)
	Port          = "port"           // the OVS port exists
	IPAM          = "ipam"           // IPAM allocated the addresses
	Configured    = "configured"     // the addresses are on the container link

	// DEL's and GC's.
	Released  = "released"  // DEL: the chain's users are released, no link deleted yet
	Unlinked  = "unlinked"  // DEL: the links that go are deleted, their users' directories not yet
	Detached  = "detached"  // DEL or GC: the backend detached the attachment, its record is not dropped yet
	Collected = "collected" // GC: the recorded attachments are detached, the backend's sweep not run yet
	Orphan    = "orphan"    // GC: an owned link nobody uses is judged, not deleted yet
)

// The points an ADD passes, per kind of attachment, for tests that visit
// each of them: kernel mode with a vlan container link, with a macvlan or
// ipvlan one (no user entry of its own: it uses the whole chain), OVS mode,
// a bridge one.
var (
	Kernel         = []string{Record, SharedRef, SharedLink, ContainerRef, ContainerLink, Renamed, IPAM, Configured}
	SharedEndpoint = []string{Record, SharedRef, SharedLink, ContainerLink, Renamed, IPAM, Configured}
	OVS            = []string{Record, ContainerLink, Renamed, Port, IPAM, Configured}
	BridgeEndpoint = []string{Record, SharedRef, SharedLink, Bridge, ContainerLink, Renamed, IPAM, Configured}
	// DEL's points, and GC's (GC detaches with DEL's steps, then sweeps).
	DEL = []string{Released, Unlinked, Detached}
	GC  = []string{Released, Unlinked, Detached, Collected, Orphan}
)
