//go:build kerneltest

package binary

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// Reserved 802.1 frames stay in the pod (docs/security.md, "Reserved 802.1
// frames"). A pod writes each of the six kinds the review tried, byte for
// byte, on its link; the far end of the wire captures what leaves. The
// control frame, a broadcast from the same pod, must cross (the capture
// works); with the filters removed the reserved frames must leave again
// (the test bites), and CHECK must report the missing filter.

// reservedKind is one kind of reserved frame: its group address's last byte
// and what follows the source MAC.
type reservedKind struct {
	name      string
	last      byte
	etherType uint16 // an 802.3 length for the LLC-framed STP BPDUs
	payload   []byte
}

// bpdu is an LLC-framed STP configuration BPDU (DSAP/SSAP 0x42, UI).
var bpdu = append([]byte{0x42, 0x42, 0x03, 0, 0, 0, 0}, make([]byte, 32)...)

var reservedKinds = []reservedKind{
	{"STP", 0x00, uint16(len(bpdu)), bpdu},
	{"pause", 0x01, 0x8808, []byte{0x00, 0x01, 0xff, 0xff}},
	{"LACP", 0x02, 0x8809, []byte{0x01, 0x01}},
	{"802.1X", 0x03, 0x888e, []byte{0x01, 0x01, 0x00, 0x00}},
	{"provider-bridge STP", 0x08, uint16(len(bpdu)), bpdu},
	{"LLDP", 0x0e, 0x88cc, []byte{0x02, 0x07, 0x04, 0x02, 0, 0, 0, 0, 1}},
}

// controlEtherType marks the control frame: IEEE's local experimental type.
const controlEtherType = 0x88b5

func reservedDst(last byte) net.HardwareAddr { return net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, last} }

// leaked is what the far end saw of one round: the reserved frames by kind
// (group address's last byte) and the control frames.
type leaked struct {
	reserved map[byte][]testenv.Frame
	control  []testenv.Frame
}

// kinds lists the kinds seen, in the order of reservedKinds.
func (l leaked) kinds() []byte {
	var out []byte
	for _, k := range reservedKinds {
		if len(l.reserved[k.last]) > 0 {
			out = append(out, k.last)
		}
	}
	return out
}

// sendReserved has the pod write each kind three times and the control
// frame three times on ifName, and returns what the far end's wire0 saw of
// them.
func sendReserved(t *testing.T, far *testenv.Node, pod ns.NetNS, ifName string) leaked {
	t.Helper()
	src := testenv.Link(t, pod, ifName).Attrs().HardwareAddr
	var frames [][]byte
	for range 3 {
		for _, k := range reservedKinds {
			frames = append(frames, testenv.EthernetFrame(reservedDst(k.last), src, nil, k.etherType, k.payload))
		}
		frames = append(frames, testenv.EthernetFrame(broadcast, src, nil, controlEtherType, []byte("qinq-l2proto-control")))
	}
	stop := far.Capture("wire0")
	writeFrames(t, pod, ifName, frames)
	out := leaked{reserved: map[byte][]testenv.Frame{}}
	for _, f := range stop() {
		switch {
		case !bytes.Equal(f.Src, src):
		case bytes.Equal(f.Dst[:5], reservedDst(0)[:5]) && f.Dst[5] < 0x10:
			out.reserved[f.Dst[5]] = append(out.reserved[f.Dst[5]], f)
		case f.EtherType == controlEtherType:
			out.control = append(out.control, f)
		}
	}
	return out
}

// writeFrames writes frames on ifName, taking a filter's ENOBUFS as sent
// (testenv.SendFramesFiltered).
func writeFrames(t *testing.T, pod ns.NetNS, ifName string, frames [][]byte) {
	t.Helper()
	if dropped := testenv.SendFramesFiltered(t, pod, ifName, frames...); dropped > 0 {
		t.Logf("%d of %d frames dropped in the sender's call (ENOBUFS)", dropped, len(frames))
	}
}

// wantTags checks that frames carry exactly tags, outermost first.
func wantTags(t *testing.T, what string, fs []testenv.Frame, tags []testenv.Tag) {
	t.Helper()
	for _, f := range fs {
		if !slices.Equal(f.Tags, tags) {
			t.Fatalf("%s %v: tags %v, want %v", what, f, f.Tags, tags)
		}
	}
}

// kindNames spells a list of kinds for messages.
func kindNames(lasts []byte) string {
	var out []string
	for _, k := range reservedKinds {
		if slices.Contains(lasts, k.last) {
			out = append(out, fmt.Sprintf("%s (…%02x)", k.name, k.last))
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// reservedRow is one container link in one mode.
type reservedRow struct {
	name string
	conf testenv.Conf
	tags []testenv.Tag // on the wire
	// bare: the kinds that leave once the filters are gone (the kernel
	// bridge, STP off, forwards only STP's group address; the other links
	// pass all).
	bare        []byte
	inContainer bool // the master is moved into the pod (linkInContainer)
	// pauseMayStay: the link may drop pause itself, filter or not (ipvlan
	// on 6.12 did, 6.1 did not): the control needs every other kind.
	pauseMayStay bool
}

// bites reports whether the kinds that left without the filters are the
// row's bare ones.
func (row reservedRow) bites(left []byte) bool {
	if slices.Equal(left, row.bare) {
		return true
	}
	noPause := slices.DeleteFunc(slices.Clone(row.bare), func(k byte) bool { return k == 0x01 })
	return row.pauseMayStay && slices.Equal(left, noPause)
}

var allKinds = []byte{0x00, 0x01, 0x02, 0x03, 0x08, 0x0e}

func reservedRows() []reservedRow {
	q, ad := testenv.Tag8021Q, testenv.Tag8021AD
	return []reservedRow{
		{name: "bridge/C-mode", conf: shared("bridge", 1400, 10), tags: []testenv.Tag{ad(1400), q(10)}, bare: []byte{0x00}},
		{name: "bridge/tunnel", conf: shared("bridge", 1401), tags: []testenv.Tag{ad(1401)}, bare: []byte{0x00}},
		{name: "bridge/QinQinQ", conf: shared("bridge", 1402, 20, 10), tags: []testenv.Tag{ad(1402), q(20), q(10)}, bare: []byte{0x00}},
		{name: "vlan/C-mode", conf: qinq(1410, 10), tags: []testenv.Tag{ad(1410), q(10)}, bare: allKinds},
		{name: "vlan/tunnel", conf: qinq(1411), tags: []testenv.Tag{ad(1411)}, bare: allKinds},
		{name: "macvlan/C-mode", conf: shared("macvlan", 1420, 10), tags: []testenv.Tag{ad(1420), q(10)}, bare: allKinds},
		{name: "macvlan/tunnel", conf: shared("macvlan", 1421), tags: []testenv.Tag{ad(1421)}, bare: allKinds},
		{name: "ipvlan/C-mode", conf: shared("ipvlan", 1430, 10), tags: []testenv.Tag{ad(1430), q(10)}, bare: allKinds, pauseMayStay: true},
		{name: "linkInContainer", conf: qinq(1440, 10).With("linkInContainer", true), tags: []testenv.Tag{ad(1440), q(10)}, bare: allKinds, inContainer: true},
	}
}

func TestReserved_NoReservedFrameLeavesAPodOnAnyContainerLink(t *testing.T) {
	for _, row := range reservedRows() {
		t.Run(row.name, func(t *testing.T) { row.run(t) })
	}
}

func (row reservedRow) run(t *testing.T) {
	p := newPair(t, 1500)
	pod := testenv.NewContainer(t)
	if row.inContainer {
		testenv.MoveLink(t, "wire0", p.a.NS, pod.NS) // the VF a previous plugin moved in
	}
	res := p.a.Add(row.conf, pod, "net1")
	got := sendReserved(t, p.b, pod.NS, "net1")
	if len(got.control) == 0 {
		t.Fatal("the control broadcast did not cross the wire: the capture proves nothing")
	}
	wantTags(t, "control", got.control, row.tags)
	if k := got.kinds(); len(k) > 0 {
		t.Fatalf("reserved frames left the pod: %s, e.g. %v", kindNames(k), got.reserved[k[0]][0])
	}
	if err := p.a.Check(row.conf, pod, "net1", res); err != nil {
		t.Fatalf("CHECK with the filters in place: %v", err)
	}
	// Control: without the filters, the same frames leave, and CHECK sees it.
	stripped := stripReservedFilters(t, p.a.NS, ownNS(t, p.a), pod.NS)
	if stripped == 0 {
		t.Fatal("no egress filter found to remove: where is the filter?")
	}
	testenv.WantCNIError(t, p.a.Check(row.conf, pod, "net1", res), 101, "reserved 802.1")
	bare := sendReserved(t, p.b, pod.NS, "net1")
	if !row.bites(bare.kinds()) {
		t.Fatalf("without the filters %s left, want %s: the test does not bite", kindNames(bare.kinds()), kindNames(row.bare))
	}
	for _, k := range bare.kinds() {
		wantTags(t, "reserved", bare.reserved[k], row.tags)
	}
	t.Logf("filtered: control %d frames crossed, no reserved frame; unfiltered: %s left", len(got.control), kindNames(bare.kinds()))
	p.a.Del(row.conf, pod, "net1")
}

// stripReservedFilters deletes every egress filter (the reserved-frame
// filters; a port's ingress source-MAC filter, 5.10's anti-spoof, stays) in
// the namespaces given (nil ones skipped), and counts them.
func stripReservedFilters(t *testing.T, where ...ns.NetNS) int {
	t.Helper()
	n := 0
	for _, w := range where {
		if w == nil {
			continue
		}
		testenv.InNS(t, w, func() error {
			links, err := netlink.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_EGRESS)
				if err != nil {
					continue // no clsact qdisc on it
				}
				for _, f := range fs {
					// A dump lists a priority's head beside its filters:
					// deleting the head deletes them.
					if err := netlink.FilterDel(f); errors.Is(err, unix.ENOENT) {
						continue
					} else if err != nil {
						return fmt.Errorf("delete an egress filter of %s: %w", l.Attrs().Name, err)
					}
					n++
				}
			}
			return nil
		})
	}
	return n
}

// The opt-in: a tunnel-mode network with l2ProtocolTunnel (the router on a
// stick that runs LACP or STP with its customer) sends every kind but pause,
// in its S-VLAN; CHECK agrees. On the same S-link, a network that did not
// opt in is refused (its pods would share the filter), and a C-mode pod's
// frames still stay in: its C-link filters its own.
func TestReserved_L2ProtocolTunnelPassesAllButPauseInTheSVLAN(t *testing.T) {
	ad := testenv.Tag8021AD
	for _, row := range []reservedRow{
		{name: "bridge", conf: shared("bridge", 1501), tags: []testenv.Tag{ad(1501)}},
		{name: "macvlan", conf: shared("macvlan", 1502), tags: []testenv.Tag{ad(1502)}},
		{name: "vlan", conf: qinq(1503), tags: []testenv.Tag{ad(1503)}},
	} {
		t.Run(row.name, func(t *testing.T) { row.runOptIn(t) })
	}
}

func (row reservedRow) runOptIn(t *testing.T) {
	p := newPair(t, 1500)
	router := testenv.NewContainer(t)
	cf := row.conf.With("l2ProtocolTunnel", true)
	res := p.a.Add(cf, router, "net1")
	got := sendReserved(t, p.b, router.NS, "net1")
	if len(got.control) == 0 {
		t.Fatal("the control broadcast did not cross the wire: the capture proves nothing")
	}
	want := slices.DeleteFunc(slices.Clone(allKinds), func(b byte) bool { return b == 0x01 })
	if !slices.Equal(got.kinds(), want) {
		t.Fatalf("with l2ProtocolTunnel %s left, want %s (all but pause)", kindNames(got.kinds()), kindNames(want))
	}
	for _, k := range want {
		wantTags(t, "reserved", got.reserved[k], row.tags)
	}
	if err := p.a.Check(cf, router, "net1", res); err != nil {
		t.Fatalf("CHECK of the opt-in: %v", err)
	}
	t.Logf("l2ProtocolTunnel: %s left in %v", kindNames(got.kinds()), row.tags)
	if row.name == "macvlan" {
		sharedSLink(t, p, row)
	}
	p.a.Del(cf, router, "net1")
}

// sharedSLink: the opt-in network's S-link, shared with another tunnel-mode
// network without the opt-in (refused: 100, naming the key), and with a
// C-mode network (its pods' reserved frames stay in).
func sharedSLink(t *testing.T, p pair, row reservedRow) {
	other := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", row.conf, other, "net1")
	testenv.WantCNIError(t, err, 100, "l2ProtocolTunnel")
	testenv.AssertOnlyLoopback(t, other) // nothing of the refused ADD in the pod
	cmode := shared("macvlan", 1502, 10)
	p.a.Add(cmode, other, "net2")
	got := sendReserved(t, p.b, other.NS, "net2")
	if len(got.control) == 0 {
		t.Fatal("the C-mode pod's control broadcast did not cross the wire")
	}
	if k := got.kinds(); len(k) > 0 {
		t.Fatalf("a C-mode pod on the opt-in network's S-link sent %s to the wire", kindNames(k))
	}
	p.a.Del(cmode, other, "net2")
}

// OVS drops reserved frames on its own (other_config:forward-bpdu false, the
// default), on a dot1q-tunnel port in tunnel and C-mode alike; the control
// turns forward-bpdu on, and they leave.
func TestReserved_OVSKeepsThemInOnADot1qTunnelPort(t *testing.T) {
	o, br, far := bridgeWithUplink(t)
	for _, c := range []struct {
		name string
		conf testenv.Conf
		tags []testenv.Tag
	}{
		{"tunnel", ovsConf(br, 1601), []testenv.Tag{testenv.Tag8021AD(1601)}},
		{"C-mode", ovsConf(br, 1602, 10), []testenv.Tag{testenv.Tag8021AD(1602), testenv.Tag8021Q(10)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pod := testenv.NewContainer(t)
			o.Host.Add(c.conf, pod, "net1")
			defer o.Host.Del(c.conf, pod, "net1")
			got := sendReserved(t, far, pod.NS, "net1")
			if len(got.control) == 0 {
				t.Fatal("the control broadcast did not cross the wire: the capture proves nothing")
			}
			wantTags(t, "control", got.control, c.tags)
			if k := got.kinds(); len(k) > 0 {
				t.Fatalf("reserved frames left through OVS: %s", kindNames(k))
			}
			o.Vsctl("set", "bridge", br, "other_config:forward-bpdu=true")
			defer o.Vsctl("remove", "bridge", br, "other_config", "forward-bpdu")
			bare := sendReserved(t, far, pod.NS, "net1")
			if len(bare.kinds()) == 0 {
				t.Fatal("with forward-bpdu=true no reserved frame left either: the test does not bite")
			}
			t.Logf("forward-bpdu=false: none left; true: %s left", kindNames(bare.kinds()))
		})
	}
}

// While a policy is in force the opt-in needs its grant: without it the ADD
// is refused with 102 naming the key and leaves nothing; the control, the
// same policy with the grant, admits the same network.
func TestReserved_L2ProtocolTunnelNeedsThePolicysGrant(t *testing.T) {
	p := newPair(t, 1500)
	policy := func(grant bool) testenv.InvokeOption {
		etc := t.TempDir()
		js := fmt.Sprintf(`{"version":1,"noNamespace":{"masters":["wire0"],"sVlans":["1504"],"containerLinks":["bridge"],"tunnelMode":true,"l2ProtocolTunnel":%t}}`, grant)
		if err := os.WriteFile(filepath.Join(etc, "policy.json"), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		return testenv.ExtraEnv("QINQ_ETC_DIR=" + etc)
	}
	cf := shared("bridge", 1504).With("l2ProtocolTunnel", true)
	pod := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", cf, pod, "net1", policy(false))
	testenv.WantCNIError(t, err, 102, "noNamespace.l2ProtocolTunnel")
	assertClean(t, p.a, "", pod)
	res := p.a.Add(cf, pod, "net1", policy(true))
	if err := p.a.Check(cf, pod, "net1", res, policy(true)); err != nil {
		t.Fatalf("CHECK of the granted opt-in: %v", err)
	}
	p.a.Del(cf, pod, "net1", policy(true))
	assertClean(t, p.a, "", pod)
}
