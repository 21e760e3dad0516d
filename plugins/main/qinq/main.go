// Command qinq is a CNI plugin that attaches containers to an 802.1ad (QinQ)
// provider VLAN: an S-tag link shared on the host per S-VLAN, C-tag links
// stacked on it, the innermost (or a macvlan/ipvlan on it) in the container,
// or an Open vSwitch dot1q-tunnel port.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

// Version is set at build time (-ldflags "-X main.Version=...").
var Version = "dev"

var versions = version.PluginSupports("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

func init() {
	// Namespace switches apply to one OS thread: keep main on the thread
	// group leader so it never runs inside a container's namespace.
	runtime.LockOSThread()
}

func main() {
	if os.Getenv("CNI_COMMAND") == "" {
		fmt.Fprint(os.Stderr, usage())
		os.Exit(1)
	}
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    logged("ADD", handingOver(cmdAdd)),
		Del:    logged("DEL", handingOver(cmdDel)),
		Check:  logged("CHECK", handingOver(cmdCheck)),
		GC:     logged("GC", handingOver(cmdGC)),
		Status: logged("STATUS", handingOver(cmdStatus)),
	}, versions, "qinq "+Version)
}

// usage is what a person who runs qinq by hand reads.
func usage() string {
	return fmt.Sprintf(`qinq %s: a CNI plugin for QinQ (802.1ad) container networking: a provider S-VLAN
shared on the host, customer C-VLANs stacked on it, the container on the innermost.

It is run by a container runtime, Multus or cnitool, not by hand: they set CNI_COMMAND
(ADD, DEL, CHECK, GC, STATUS or VERSION), CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and
CNI_PATH, and write the network configuration to its stdin. Try:

  CNI_COMMAND=VERSION %s </dev/null

CNI spec versions: %s
Configuration and examples: README.md, https://github.com/qinq-cni/qinq#readme
`, Version, os.Args[0], strings.Join(versions.SupportedVersions(), ", "))
}
