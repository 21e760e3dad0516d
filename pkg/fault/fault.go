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
	ContainerLink = "container-link" // the container link exists under its temporary name
	Renamed       = "renamed"        // the container link is named and up
	Port          = "port"           // the OVS port exists
	IPAM          = "ipam"           // IPAM allocated the addresses
	Configured    = "configured"     // the addresses are on the container link
)

// Kernel and OVS list the points an ADD of each backend passes, for tests
// that visit each of them.
var (
	Kernel = []string{Record, SharedRef, SharedLink, ContainerRef, ContainerLink, Renamed, IPAM, Configured}
	OVS    = []string{Record, ContainerLink, Renamed, Port, IPAM, Configured}
)
