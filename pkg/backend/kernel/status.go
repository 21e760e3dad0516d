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
	if b.conf.ContainerLink == config.LinkBridge && !netdev.LockedPortsSupported() {
		return errNoLockedPorts
	}
	if !b.conf.LinkInContainer {
		if _, err := netlinksafe.LinkByName(b.conf.Master); err != nil {
			return cnierr.Unavailable("master %q: no such link on this node", b.conf.Master)
		}
	}
	return nil
}

// errNoLockedPorts: before 5.18 the kernel ignores IFLA_BRPORT_LOCKED, and a
// pod's bridge port would accept any source MAC.
var errNoLockedPorts = cnierr.Unavailable("the kernel has no locked bridge ports (Linux 5.18 or later): " +
	"containerLink \"bridge\" cannot keep a pod to its MAC here; use \"macvlan\" or a newer kernel")

// Where the kernel tells about 802.1Q support; variables so tests can point
// them at fixtures.
var (
	procNetVlan = "/proc/net/vlan"
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

func moduleAvailable(name string) bool {
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
