package testenv

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"
)

// pcap builds a little-endian pcap file of the frames given.
func pcap(frames ...[]byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	out = append(out, make([]byte, 20)...) // the rest of the global header
	for _, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)+100)) // longer on the wire than captured
		out = append(append(out, rec...), f...)
	}
	return out
}

// ether is a frame from zero MACs with the tags and EtherType given.
func ether(etherType uint16, tags ...Tag) []byte {
	f := make([]byte, 12)
	for _, t := range tags {
		f = binary.BigEndian.AppendUint16(f, t.TPID)
		f = binary.BigEndian.AppendUint16(f, uint16(0x2000|t.VID)) // PCP 1: not part of the VID
	}
	f = binary.BigEndian.AppendUint16(f, etherType)
	return append(f, make([]byte, 20)...)
}

func TestParsePcap_ReadsTagsOutermostFirst(t *testing.T) {
	qinq := ether(0x0800, Tag8021AD(100), Tag8021Q(10))
	frames, err := ParsePcap(pcap(qinq, ether(0x0806), []byte{1, 2, 3}, ether(0x0800, Tag{TPID9100, 7})))
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3 (the 3-byte one is no frame): %v", len(frames), frames)
	}
	if !slices.Equal(frames[0].Tags, []Tag{Tag8021AD(100), Tag8021Q(10)}) || frames[0].EtherType != 0x0800 || frames[0].Length != len(qinq)+100 {
		t.Errorf("QinQ frame parsed as %v", frames[0])
	}
	if len(frames[1].Tags) != 0 || frames[1].EtherType != 0x0806 {
		t.Errorf("untagged ARP frame parsed as %v", frames[1])
	}
	if got := IPv4Frames(frames); len(got) != 2 || got[1].Tags[0] != (Tag{TPID9100, 7}) {
		t.Errorf("IPv4 frames %v", got)
	}
}

func TestParsePcap_RefusesWhatIsNotPcap(t *testing.T) {
	for _, data := range [][]byte{nil, make([]byte, 24), []byte("not a pcap file at all, no")} {
		if _, err := ParsePcap(data); err == nil {
			t.Errorf("%q parsed", data)
		}
	}
}

func TestDiff_ListsGoneNewAndChangedSorted(t *testing.T) {
	before := Snapshot{"vm link lo": "#1", "node link eth1.100": "#5 vlan", "state file a": `"x"`}
	after := Snapshot{"vm link lo": "#1", "state file a": `"y"`, "ctr c1 link net1": "#2 vlan"}
	want := []string{"+ ctr c1 link net1 #2 vlan", "- node link eth1.100 #5 vlan", `~ state file a: "x" -> "y"`}
	if got := Diff(before, after); !slices.Equal(got, want) {
		t.Fatalf("Diff:\n%q\nwant\n%q", got, want)
	}
	if d := Diff(after, after); len(d) != 0 {
		t.Fatalf("a snapshot differs from itself: %v", d)
	}
	if !after.Has("ctr c1 ") || after.Has("node ") || !after.HasWith("ctr ", "vlan") || after.HasWith("state ", "x") {
		t.Fatal("Has/HasWith")
	}
}

func TestDirFilters_DropLocksAndHostLocalBookkeeping(t *testing.T) {
	state, ipam := StateDir("/s"), HostLocalStore("/i")
	for rel, want := range map[string]bool{"/host-1/links/k/ctr:net1": true, "/host-1/locks/eth1.lock": false} {
		if state.Keep(rel) != want {
			t.Errorf("state dir keeps %s: %v", rel, !want)
		}
	}
	for rel, want := range map[string]bool{"/net/10.0.0.2": true, "/net/lock": false, "/net/last_reserved_ip.0": false} {
		if ipam.Keep(rel) != want {
			t.Errorf("host-local store keeps %s: %v", rel, !want)
		}
	}
}

func TestConf_BuildersCopyAndSetTheKeys(t *testing.T) {
	base := QinQ("1.0.0", "n").OnMaster("eth1", 100, 50, 10)
	tunnel := QinQ("1.1.0", "n").OnBridge("br0", 200)
	ip := base.WithStaticIP("10.0.0.1/24").Without("cVlans").With("mtu", 1400)
	var got map[string]any
	if err := json.Unmarshal(ip.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["master"] != "eth1" || got["sVlan"] != 100.0 || got["mtu"] != 1400.0 || got["cVlans"] != nil || got["ipam"] == nil {
		t.Errorf("built %s", ip.Bytes())
	}
	if _, ok := base["ipam"]; ok || len(base["cVlans"].([]int)) != 2 {
		t.Error("With changed the config it was called on")
	}
	if tunnel["mode"] != "ovs" || tunnel["bridge"] != "br0" || tunnel["cVlans"] != nil {
		t.Errorf("OVS tunnel-mode config %v", tunnel)
	}
}

func TestVars_WithAndWithoutCopy(t *testing.T) {
	e := &Env{CNIPath: "/opt/cni/bin"}
	v := e.Vars("ADD", &Container{ID: "c1", path: "/run/netns/c1"}, "net1")
	w := v.With("CNI_IFNAME", "eth0").Without("CNI_NETNS")
	if v["CNI_IFNAME"] != "net1" || v["CNI_NETNS"] != "/run/netns/c1" || v["CNI_PATH"] != "/opt/cni/bin" {
		t.Errorf("vars %v", v)
	}
	if _, ok := w["CNI_NETNS"]; ok || w["CNI_IFNAME"] != "eth0" || w["CNI_CONTAINERID"] != "c1" {
		t.Errorf("derived vars %v", w)
	}
	if g := e.Vars("GC", nil, ""); len(g) != 3 {
		t.Errorf("GC without a container: %v", g)
	}
}

func TestParsePcap_ReadsTheAddressesAndSourcesListsThemOnce(t *testing.T) {
	a, b := ether(0x0800, Tag8021AD(100)), ether(0x0800, Tag8021AD(100))
	copy(a[0:6], []byte{2, 0, 0, 0, 0, 0xb})
	copy(a[6:12], []byte{2, 0, 0, 0, 0, 0xa})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 0xc})
	frames, err := ParsePcap(pcap(a, b, a, ether(0x0806)))
	if err != nil {
		t.Fatal(err)
	}
	if frames[0].Src.String() != "02:00:00:00:00:0a" || frames[0].Dst.String() != "02:00:00:00:00:0b" {
		t.Fatalf("addresses %v", frames[0])
	}
	if got := Sources(frames); !slices.Equal(got, []string{"02:00:00:00:00:0a", "02:00:00:00:00:0c"}) {
		t.Fatalf("sources %v (the ARP frame's zero MAC is not IPv4)", got)
	}
}
