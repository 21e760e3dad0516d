package netdev

import (
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/config"
)

// The lock is read from where the kernel reports it, nested two levels down;
// a kernel without locked ports has no such attribute.
func TestNestedAttr_FindsTheLockInTheBridgePortData(t *testing.T) {
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_SLAVE_KIND, nl.ZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_SLAVE_DATA, nil)
	data.AddRtAttr(nl.IFLA_BRPORT_LEARNING, []byte{0})
	withLock := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	withLock.AddRtAttr(nl.IFLA_INFO_SLAVE_KIND, nl.ZeroTerminated("bridge"))
	d2 := withLock.AddRtAttr(int(nl.IFLA_INFO_SLAVE_DATA|nl.NLA_F_NESTED), nil)
	d2.AddRtAttr(nl.IFLA_BRPORT_LEARNING, []byte{0})
	d2.AddRtAttr(nl.IFLA_BRPORT_LOCKED, []byte{1})
	name := nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("qbp1"))
	for _, tc := range []struct {
		attrs []*nl.RtAttr
		found bool
	}{{[]*nl.RtAttr{name, info}, false}, {[]*nl.RtAttr{name, withLock}, true}, {[]*nl.RtAttr{name}, false}} {
		var b []byte
		for _, a := range tc.attrs {
			b = append(b, a.Serialize()...)
		}
		v, found, err := nestedAttr(b, unix.IFLA_LINKINFO, nl.IFLA_INFO_SLAVE_DATA, nl.IFLA_BRPORT_LOCKED)
		if err != nil || found != tc.found || (found && (len(v) != 1 || v[0] != 1)) {
			t.Errorf("attrs %d: found %v %v (%v), want found %v", len(tc.attrs), found, v, err, tc.found)
		}
	}
}

func TestVIDRanges_FoldRuns(t *testing.T) {
	got := vidRanges([]config.VID{30, 10, 11, 12, 4094, 20})
	want := [][2]config.VID{{10, 12}, {20, 20}, {30, 30}, {4094, 4094}}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}

func TestBridgeMAC_StableUnicastLocal(t *testing.T) {
	a, b := BridgeMAC("eth0:88a8.100:8100.10"), BridgeMAC("eth0:88a8.100:8100.10")
	if a.String() != b.String() || a[0] != 0x02 || BridgeMAC("eth0:88a8.100:8100.11").String() == a.String() {
		t.Fatalf("bridge MACs %s %s", a, b)
	}
}
