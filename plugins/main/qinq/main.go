// Command qinq is a CNI plugin that attaches containers to an 802.1ad (QinQ)
// provider VLAN: an S-tag link shared on the host per S-VLAN, C-tag links
// stacked on it, the innermost moved into the container.
package main

import (
	"runtime"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

// Version is set at build time (-ldflags "-X main.Version=...").
var Version = "dev"

func init() {
	// Namespace switches apply to one OS thread: keep main on the thread
	// group leader so it never runs inside a container's namespace.
	runtime.LockOSThread()
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    logged("ADD", cmdAdd),
		Del:    logged("DEL", cmdDel),
		Check:  logged("CHECK", cmdCheck),
		GC:     logged("GC", cmdGC),
		Status: logged("STATUS", cmdStatus),
	}, version.PluginSupports("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
		"qinq "+Version+": 802.1ad/802.1Q stacked VLANs for containers")
}
