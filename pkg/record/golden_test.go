package record

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/golden"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// currentConfigs are the configs the golden records of the current format
// are written from: one per endpoint kind and tag layout. Each file in
// testdata/v<Version> is what this release stores for that config; once a
// later format replaces it, the directory stays as the fixtures a release
// must keep reading (as testdata/v1 does for format 1).
var currentConfigs = map[string]string{
	"bridge":           `"master":"eth0","sVlan":100,"cVlans":[50,10],"mac":"02:00:00:00:00:01"`,
	"bridge-kubevirt":  `"master":"eth0","sVlan":100,"cVlans":[10],"mac":"02:00:00:00:00:01","disableContainerInterface":true`,
	"bridge-tunnel":    `"master":"eth0","sVlan":300,"containerLink":"bridge","allowedCVlans":[10,20,30]`,
	"vlan":             `"master":"eth0","sVlan":100,"cVlans":[10],"mac":"02:00:00:00:00:01","containerLink":"vlan"`,
	"vlan-cisco":       `"master":"eth0","sVlan":100,"sProto":"802.1Q","cVlans":[10],"containerLink":"vlan"`,
	"macvlan-qinqinq":  `"master":"eth0","sVlan":100,"cVlans":[50,10],"containerLink":"macvlan","containerLinkMode":"private"`,
	"ipvlan":           `"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"ipvlan","containerLinkMode":"l2"`,
	"macvlan-tunnel":   `"master":"eth0","sVlan":300,"containerLink":"macvlan"`,
	"vlan-incontainer": `"master":"eth1","sVlan":100,"cVlans":[10],"linkInContainer":true,"containerLink":"vlan"`,
	"long-master":      `"master":"enp0s31f6np0","sVlan":4000,"cVlans":[4001],"containerLink":"vlan"`,
	"ovs-ctag":         `"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10]`,
	"ovs-tunnel":       `"mode":"ovs","bridge":"br0","sVlan":100,"allowedCVlans":[10,20]`,
	"ovs-chained":      `"mode":"ovs","sVlan":100`,
	"ovs-socket":       `"mode":"ovs","bridge":"br0","sVlan":100,"ovsdbSocket":"unix:/var/run/openvswitch/db.sock"`,
}

// TestGolden_RecordFormat: what this release stores for each kind is byte
// for byte the committed record, and every committed record reads back as
// the plan its config makes. A renamed or retyped field fails here, not on
// a node whose running pods' DELs could no longer read their records.
func TestGolden_RecordFormat(t *testing.T) {
	dir := filepath.Join("testdata", fmt.Sprintf("v%d", Version))
	for name, js := range currentConfigs {
		t.Run(name, func(t *testing.T) {
			want := currentPlan(t, js)
			data, err := encode(want)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join(dir, name+".json"), append(data, '\n'))
			stored, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := decode(stored); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s/%s.json read as\n%#v\nwant\n%#v (%v)", dir, name, got, want, err)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != len(currentConfigs) {
		t.Fatalf("%s holds %d records for %d configs: a record with no config is no longer checked", dir, len(files), len(currentConfigs))
	}
}

// currentPlan is the plan this release makes for js: a kernel-mode one
// records that its links filter reserved 802.1 frames.
func currentPlan(t *testing.T, js string) plan.Plan {
	p := v1Plan(t, js)
	p.ReservedFiltered = p.Backend == config.BackendKernel
	return p
}

// TestGolden_StoreLayout: where a record, a user of a shared link, a
// master's lock and a link key's lock live under the state directory. DEL and GC of a pod made by
// an earlier release look exactly there.
func TestGolden_StoreLayout(t *testing.T) {
	root := t.TempDir()
	s := OpenAt(root, "host-1")
	p := v1Plan(t, currentConfigs["vlan"])
	if err := s.Put(p); err != nil {
		t.Fatal(err)
	}
	users := s.Users(p)
	unlock, err := users.LockMaster("eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, l := range p.Chain {
		unlockKey, err := users.LockKey(l.Key, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := users.Use(l.Key, p.Attachment); err != nil {
			t.Fatal(err)
		}
		unlockKey()
	}
	odd := plan.Attachment{Network: "ns/odd name", ContainerID: "c3", IfName: "eth0"}
	if err := s.Put(plan.Plan{Attachment: odd, Backend: "kernel", Endpoint: plan.NoEndpoint{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(); err != nil {
		t.Fatal(err)
	}
	var paths []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			paths = append(paths, rel)
		}
		return err
	})
	slices.Sort(paths)
	golden.Check(t, filepath.Join("testdata", "golden", "layout.txt"), []byte(strings.Join(paths, "\n")+"\n"))
}

// TestGolden_RecordsOfTheReleaseBeforeDigestNames: the records the release
// at fe54dd9 wrote (format 2, names with FNV-32 digests) still read as the
// plan their config makes, and every name in them is one this release
// looks for a link under: its pods are found, checked and deleted.
func TestGolden_RecordsOfTheReleaseBeforeDigestNames(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "v2-fe54dd9", "*.json"))
	if len(files) < 13 {
		t.Fatalf("%d records of fe54dd9, want its 13", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		js, ok := currentConfigs[name]
		if !ok {
			t.Fatalf("%s: no config of that name", file)
		}
		t.Run(name, func(t *testing.T) {
			stored, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(stored)
			if err != nil {
				t.Fatal(err)
			}
			want := v1Plan(t, js)
			if err := sameButNames(&got, want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read as\n%#v\nwant\n%#v", got, want)
			}
		})
	}
}

// sameButNames checks that got's names are ones this release looks for
// want's links under, then gives got want's names.
func sameButNames(got *plan.Plan, want plan.Plan) error {
	if len(got.Chain) != len(want.Chain) {
		return fmt.Errorf("chain of %d links, want %d", len(got.Chain), len(want.Chain))
	}
	for i, l := range got.Chain {
		w := want.Chain[i]
		if !slices.Contains(w.Names(), l.Name) || !slices.Contains(w.Names(), l.AltName) {
			return fmt.Errorf("link %s: names %s, %s are not among %v", l.Key, l.Name, l.AltName, w.Names())
		}
		got.Chain[i].Name, got.Chain[i].AltName = w.Name, w.AltName
	}
	switch e := got.Endpoint.(type) {
	case *plan.BridgeEndpoint:
		w := want.Endpoint.(*plan.BridgeEndpoint)
		if key := want.Joined().Key; !slices.Contains(plan.BridgeNames("", key), e.Bridge) {
			return fmt.Errorf("bridge %s is not among %v", e.Bridge, plan.BridgeNames("", key))
		}
		e.Bridge, e.HostName = w.Bridge, w.HostName // the port is found by its record's name
	case *plan.VethEndpoint:
		w := want.Endpoint.(*plan.VethEndpoint)
		a := want.Attachment
		if !plan.IsHostVethName(e.HostName) || e.HostName != plan.LegacyHostVethName(a.Network, a.ContainerID, a.IfName) {
			return fmt.Errorf("host veth %s is not recognised as qinq's", e.HostName)
		}
		e.HostName, got.Switch.Port = w.HostName, w.HostName
	}
	return nil
}
