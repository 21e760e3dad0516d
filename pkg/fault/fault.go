// Package fault marks the steps of an ADD where tests inject a failure or a
// crash. In a normal build Point does nothing and costs nothing; the
// test-only binary bin/qinq-faults is built with -tags faultinject.
package fault

// Points, in the order an ADD passes them.
const (
	SharedRef     = "shared-ref"     // a reference on a shared link was recorded
	SharedLink    = "shared-link"    // a shared link exists (found or created)
	ContainerRef  = "container-ref"  // the container link's reference was recorded
	ContainerLink = "container-link" // the container link exists under its temporary name
	Renamed       = "renamed"        // the container link is named CNI_IFNAME and up
	IPAM          = "ipam"           // IPAM allocated the addresses
	Configured    = "configured"     // the addresses are on the container link
)

// All lists the points for tests that visit each of them.
var All = []string{SharedRef, SharedLink, ContainerRef, ContainerLink, Renamed, IPAM, Configured}
