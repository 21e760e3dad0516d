package kernel

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/netdev"
)

// Status reports code 50 when this node cannot attach containers: no 802.1Q
// support, or the master missing from the host.
func (b *Backend) Status() error {
	if !vlanSupported() {
		return cnierr.Unavailable("the kernel has no 802.1Q VLAN support: load the 8021q module (modprobe 8021q)")
	}
	if b.conf.ContainerLink == config.LinkBridge {
		if err := b.antiSpoofOffered(); err != nil {
			return err
		}
	}
	if !b.conf.LinkInContainer {
		if _, err := netlinksafe.LinkByName(b.conf.Master); err != nil {
			return cnierr.Unavailable("master %q: no such link on this node", b.conf.Master)
		}
	}
	return nil
}

// antiSpoofOffered is code 50 where the node shows that neither locked
// bridge ports nor the source-MAC filter's modules are there; what it shows
// goes to the log (Offers).
func (b *Backend) antiSpoofOffered() error {
	own, err := b.ownNS(false)
	if err != nil {
		return err
	}
	how, known := netdev.OfferedAntiSpoof(own, moduleAvailable)
	if !known {
		return cnierr.Unavailable("the kernel shows neither locked bridge ports (Linux 5.18) nor the modules of the source-MAC filter " +
			"(sch_ingress, cls_flower, cls_matchall, act_gact): containerLink \"bridge\" cannot keep a pod to its MAC here")
	}
	b.offers = append(b.offers, "antiSpoof", string(how))
	return nil
}

// Offers are what STATUS found the node offers, for its log line.
func (b *Backend) Offers() []any { return b.offers }

// Where the kernel tells about 802.1Q support; variables so tests can point
// them at fixtures.
var (
	procNetVlan = "/proc/net/vlan"
	sysModule   = "/sys/module"
	modulesRoot = "/lib/modules"
)

// vlanSupported: 8021q is loaded (/proc/net/vlan exists) or built as a module
// the kernel can load on the first VLAN link.
func vlanSupported() bool {
	if _, err := os.Stat(procNetVlan); err == nil {
		return true
	}
	return moduleAvailable("8021q")
}

// moduleAvailable: loaded (or built in: /sys/module has those too), or
// listed where modprobe finds it.
func moduleAvailable(name string) bool {
	if _, err := os.Stat(filepath.Join(sysModule, name)); err == nil {
		return true
	}
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return false
	}
	dir := filepath.Join(modulesRoot, unix.ByteSliceToString(uts.Release[:]))
	for _, index := range []string{"modules.dep", "modules.builtin"} {
		data, err := os.ReadFile(filepath.Join(dir, index))
		if err == nil && strings.Contains(string(data), "/"+name+".ko") {
			return true
		}
	}
	return false
}
