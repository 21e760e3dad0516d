package record

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

var (
	a = plan.Attachment{ContainerID: "c1", IfName: "net1", Network: "n", Netns: "/var/run/netns/c1"}
	b = plan.Attachment{ContainerID: "c2", IfName: "net1", Network: "n"}
)

func TestRecords_PutGetListDrop(t *testing.T) {
	s := OpenAt(t.TempDir(), "host-1")
	if _, found, err := s.Get(a); found || err != nil {
		t.Fatalf("a record before any Put: found=%v err=%v", found, err)
	}
	pa := plan.Plan{Attachment: a, Backend: "kernel", Master: plan.Master{Name: "eth0"},
		Endpoint: &plan.VLANEndpoint{Iface: plan.Iface{Name: "net1"}, Tag: plan.Tag{Proto: netlink.VLAN_PROTOCOL_8021AD, VID: 100}, Key: "eth0:88a8.100"}}
	for _, p := range []plan.Plan{pa, {Attachment: b, Backend: "ovs", Endpoint: plan.NoEndpoint{}}} {
		if err := s.Put(p); err != nil {
			t.Fatal(err)
		}
	}
	got, found, err := s.Get(a)
	if err != nil || !found || got.Endpoint.(*plan.VLANEndpoint).Key != "eth0:88a8.100" || got.Attachment != a {
		t.Fatalf("Get: %+v %v %v", got, found, err)
	}
	// What a writer killed between its temporary file and the rename leaves.
	os.WriteFile(filepath.Join(s.networkDir("n"), ".c1:net1.tmp"), []byte("{"), 0o600)
	all, err := s.List("n")
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %d records, %v", len(all), err)
	}
	if err := s.Drop(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(a); err != nil {
		t.Fatalf("dropping a record already gone: %v", err)
	}
	if entries, _ := os.ReadDir(s.networkDir("n")); len(entries) != 1 {
		t.Fatalf("after Drop of a: %v (its temporary file must go too)", entries)
	}
	if err := s.Drop(b); err != nil || exists(s.networkDir("n")) {
		t.Fatalf("the network's directory must go with its last record (%v)", err)
	}
}

// libcni keys an attachment by network too: the same container and
// interface name in two networks are two records.
func TestRecords_AreKeyedByNetwork(t *testing.T) {
	s := OpenAt(t.TempDir(), "host-1")
	other := a
	other.Network = "other/../../x" // a name from the config is not a path
	for _, x := range []plan.Attachment{a, other} {
		if err := s.Put(plan.Plan{Attachment: x, Backend: "kernel", Endpoint: plan.NoEndpoint{}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Drop(a); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Get(other); !found {
		t.Fatal("dropping network n's record dropped the other network's")
	}
	if l, _ := s.List("n"); len(l) != 0 {
		t.Fatalf("List(n) after its Drop: %v", l)
	}
	if l, _ := s.List(other.Network); len(l) != 1 || l[0].Attachment != other {
		t.Fatalf("List(other): %v", l)
	}
	if filepath.Dir(s.networkDir(other.Network)) != s.attachments() {
		t.Fatalf("network %q escaped the store: %s", other.Network, s.networkDir(other.Network))
	}
}

// v1Configs are the configs testdata/v1 was written from, by the release
// at 86e0223 (plan.For, then json.Marshal: what it stored as a record).
var v1Configs = map[string]string{
	"vlan":                  `"master":"eth0","sVlan":100,"cVlans":[10],"mac":"02:00:00:00:00:01","containerLink":"vlan"`,
	"macvlan-8021q-qinqinq": `"master":"eth0","sVlan":100,"sProto":"802.1Q","cVlans":[50,10],"containerLink":"macvlan","containerLinkMode":"private"`,
	"ipvlan-tunnel":         "ipvlan-tunnel:" + `"master":"eth0","sVlan":300,"containerLink":"macvlan"`,
	"ovs-ctag":              `"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10]`,
	"ovs-tunnel":            `"mode":"ovs","bridge":"br0","sVlan":100`,
	"ovs-chained":           `"mode":"ovs","sVlan":100`,
	"vlan-incontainer":      `"master":"eth1","sVlan":100,"cVlans":[10],"linkInContainer":true,"containerLink":"vlan"`,
}

// Every record format 1 wrote reads back as the plan the same config makes
// today, is found by Get, listed, and dropped; and the current format
// carries every kind unchanged.
func TestRecords_Format1IsReadAndTheCurrentFormatRoundTrips(t *testing.T) {
	for name, js := range v1Configs {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "v1", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			want := withPreviousNames(v1Plan(t, js))
			got, err := decode(data)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("format 1 read as\n%#v\nwant\n%#v (%v)", got, want, err)
			}
			s := OpenAt(t.TempDir(), "host-1")
			os.MkdirAll(s.attachments(), 0o700)
			os.WriteFile(s.v1File(a), data, 0o600)
			if p, found, err := s.Get(a); !found || err != nil || !reflect.DeepEqual(p, want) {
				t.Fatalf("Get of a format 1 record: %v %v", found, err)
			}
			if l, err := s.List("n"); len(l) != 1 || err != nil {
				t.Fatalf("List with a format 1 record: %d, %v", len(l), err)
			}
			if err := s.Drop(a); err != nil || exists(s.v1File(a)) {
				t.Fatalf("Drop of a format 1 record: %v", err)
			}
			v2, err := encode(want)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := decode(v2); err != nil || !reflect.DeepEqual(back, want) {
				t.Fatalf("format %d round trip:\n%s\n%#v (%v)", Version, v2, back, err)
			}
		})
	}
}

// The bridge endpoint (no format 1: it came after) round-trips in format 2.
func TestRecords_BridgeEndpointsRoundTrip(t *testing.T) {
	for _, js := range []string{
		`"master":"eth0","sVlan":100,"cVlans":[50,10],"mac":"02:00:00:00:00:01"`,
		`"master":"eth0","sVlan":300,"containerLink":"bridge","allowedCVlans":[10,20,30]`,
	} {
		c, err := config.Parse([]byte(`{"cniVersion":"1.0.0","name":"n","type":"qinq",`+js+`}`), "")
		if err != nil {
			t.Fatal(err)
		}
		want, err := plan.For(c, a, 1500)
		if err != nil {
			t.Fatal(err)
		}
		if want.Endpoint.Kind() != config.LinkBridge {
			t.Fatalf("%s planned a %s endpoint", js, want.Endpoint.Kind())
		}
		data, err := encode(want)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := decode(data); err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("bridge round trip:\n%s\n%#v (%v)", data, back, err)
		}
	}
}

// v1Plan is the plan config js makes today. ipvlan in tunnel mode is refused
// now, but a pod made before it was is still deleted: its plan is the
// macvlan one's with the ipvlan kind.
func v1Plan(t *testing.T, js string) plan.Plan {
	t.Helper()
	ipvlan, tunnel := strings.CutPrefix(js, "ipvlan-tunnel:")
	if tunnel {
		js = ipvlan
	}
	c, err := config.Parse([]byte(`{"cniVersion":"1.0.0","name":"n","type":"qinq",`+js+`}`), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.For(c, a, 1500)
	if err != nil {
		t.Fatal(err)
	}
	p.ReservedFiltered = false // format 1 came before the filter of reserved 802.1 frames
	if tunnel {
		m := p.Endpoint.(*plan.MacvlanEndpoint)
		p.Endpoint = &plan.IpvlanEndpoint{Iface: m.Iface, Mode: "l3"}
	}
	return p
}

// withPreviousNames gives p's hashed names the form the release that wrote
// format 1 gave them (FNV-32): a record keeps the names its links have, and
// this release looks for links under them too (plan.VLANLink.Names).
func withPreviousNames(p plan.Plan) plan.Plan {
	for i, l := range p.Chain {
		names := l.Names()
		old := names[len(names)-1]
		if l.Name == l.AltName {
			p.Chain[i].Name = old
		}
		p.Chain[i].AltName = old
	}
	if v, ok := p.Endpoint.(*plan.VethEndpoint); ok {
		a := p.Attachment
		v.HostName = plan.LegacyHostVethName(a.Network, a.ContainerID, a.IfName)
		p.Switch.Port = v.HostName
	}
	return p
}

// A format 1 record of another network with the same container ID and
// interface name is not this attachment's.
func TestRecords_Format1OfAnotherNetworkIsNotFound(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join("testdata", "v1", "vlan.json"))
	s := OpenAt(t.TempDir(), "host-1")
	os.MkdirAll(s.attachments(), 0o700)
	os.WriteFile(s.v1File(a), data, 0o600)
	other := a
	other.Network = "m"
	if _, found, err := s.Get(other); found || err != nil {
		t.Fatalf("network m found network n's record: %v", err)
	}
	if err := s.Drop(other); err != nil || !exists(s.v1File(a)) {
		t.Fatalf("Drop for network m removed network n's record (%v)", err)
	}
}

func TestRecords_UnknownOrBrokenFormatsAreErrorsNotAbsence(t *testing.T) {
	for _, data := range []string{`{"version":3}`, `{"version":2,"endpoint":{"kind":"vlan"}}`,
		`{"version":2,"endpoint":{"kind":"vlan","link":{"name":"x"},"vlan":{"tag":{"tpid":"0x9100","vid":1}}}}`, `{`} {
		if _, err := decode([]byte(data)); err == nil {
			t.Errorf("%s: decoded without error", data)
		}
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func TestLinks_CountUsersAndGoWithTheLast(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	for _, x := range []plan.Attachment{a, b} {
		if err := l.Use("eth0:88a8.100", x); err != nil {
			t.Fatal(err)
		}
	}
	if users, _ := l.Of("eth0:88a8.100"); !slices.Equal(users, []string{"c1:net1", "c2:net1"}) {
		t.Fatalf("users %v", users)
	}
	if u, err := l.Release("eth0:88a8.100", a); u != InUse || err != nil {
		t.Fatalf("after the first of two users left: %v, %v", u, err)
	}
	if !l.Uses("eth0:88a8.100", b) || l.Uses("eth0:88a8.100", a) {
		t.Fatal("Release dropped the wrong user")
	}
	if u, err := l.Release("eth0:88a8.100", b); u != Unused || err != nil {
		t.Fatalf("after the last user left: %v, %v", u, err)
	}
	// A DEL killed after its Release and repeated still finds it unused.
	if u, err := l.Release("eth0:88a8.100", b); u != Unused || err != nil {
		t.Fatalf("releasing a use already gone: %v, %v", u, err)
	}
	if err := l.Done("eth0:88a8.100"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.keyDir("eth0:88a8.100")); !os.IsNotExist(err) {
		t.Fatal("the key's directory outlived Done")
	}
}

// A writer killed between making the key's directory and its entry leaves an
// empty directory: it must not keep the link alive.
func TestLinks_AnEmptyKeyDirectoryIsUnused(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	os.MkdirAll(l.keyDir("eth0:88a8.100"), 0o700)
	if u, err := l.Release("eth0:88a8.100", a); u != Unused || err != nil {
		t.Fatalf("%v, %v", u, err)
	}
}

// Absence of evidence: with no users' directory at all (a cleared /run/qinq,
// another mount namespace's /run) nobody can say the link is unused.
func TestLinks_AMissingKeyDirectoryIsUnknownNeverUnused(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	if u, err := l.Release("eth0:88a8.100", a); u != Unknown || err != nil {
		t.Fatalf("Release: %v, %v; want unknown", u, err)
	}
	if u, err := l.Usage("eth0:88a8.100"); u != Unknown || err != nil {
		t.Fatalf("Usage: %v, %v; want unknown", u, err)
	}
	// Control: the same key with its directory present and empty is unused.
	os.MkdirAll(l.keyDir("eth0:88a8.100"), 0o700)
	if u, _ := l.Usage("eth0:88a8.100"); u != Unused {
		t.Fatalf("Usage of an empty directory: %v, want unused", u)
	}
}

func TestIdentify_MadeOnceAtomicallyAndNewAfterTheRootIsLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qinq")
	ids := make(chan string, 8)
	for range 8 {
		go func() { id, _ := Identify(dir); ids <- id }()
	}
	first := <-ids
	for range 7 {
		if id := <-ids; id != first || len(id) != 16 {
			t.Fatalf("racing callers got %q and %q: one store, one identity", first, id)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the root holds %v: temporary files must go", entries)
	}
	os.RemoveAll(dir)
	if again, err := Identify(dir); err != nil || again == first {
		t.Fatalf("after the root was lost: %q (%v); want a new identity, not %q", again, err, first)
	}
	// A root without an identity (an older release's, or one removed) gets
	// a new one: what was marked before is another store's.
	os.Remove(filepath.Join(dir, idFile))
	if id, err := Identify(dir); err != nil || len(id) != 16 {
		t.Fatalf("a root without an identity: %q %v", id, err)
	}
	os.WriteFile(filepath.Join(dir, idFile), []byte("garbage\n"), 0o600)
	if _, err := Identify(dir); err == nil {
		t.Fatal("a malformed identity was accepted")
	}
}

func TestLinks_AContainerScopeGoesWithItsLastUser(t *testing.T) {
	s := OpenAt(t.TempDir(), "host-1")
	p := plan.Plan{Attachment: a, InContainer: true}
	l := s.Users(p)
	if l.dir == s.HostUsers().dir {
		t.Fatal("a chain built in the container shares the host's scope")
	}
	l.Use("vf0:88a8.7", a)
	if err := l.Forget(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.dir); err != nil {
		t.Fatal("a scope with a user was forgotten")
	}
	l.Release("vf0:88a8.7", a)
	l.Done("vf0:88a8.7")
	l.Forget()
	if _, err := os.Stat(l.dir); !os.IsNotExist(err) {
		t.Fatal("the container scope outlived its last user")
	}
	s.HostUsers().Use("eth0:88a8.1", a)
	s.HostUsers().Release("eth0:88a8.1", a)
	s.HostUsers().Forget()
	if _, err := os.Stat(s.HostUsers().dir); err != nil {
		t.Fatal("the host's scope must stay")
	}
}

func TestAttachmentIDs_NeverCollide(t *testing.T) {
	x := plan.Attachment{ContainerID: "a.b", IfName: "c"}
	y := plan.Attachment{ContainerID: "a", IfName: "b.c"}
	if x.ID() == y.ID() {
		t.Fatalf("%q and %q share a record", x.ContainerID+"/"+x.IfName, y.ContainerID+"/"+y.IfName)
	}
}

func TestLock_SerialisesHoldersOfOneMaster(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	unlock, err := l.Lock("eth0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u2, err := l.Lock("eth0")
		if err == nil {
			u2()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second holder got the lock while the first held it")
	case <-time.After(200 * time.Millisecond): // still waiting, as it must
	}
	unlock()
	<-got
}

func TestOpen_ScopesByTheNamespaceAndHonoursQINQ_STATE_DIR(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QINQ_STATE_DIR", dir)
	s, err := Open()
	if err != nil || s.dir != dir || len(s.scope) < 6 || s.scope[:5] != "host-" {
		t.Fatalf("%+v %v", s, err)
	}
}

// Forget removes a container scope, its lock file with it, while holding
// that lock: a waiter must not then hold a lock nobody else can see, while
// a newcomer locks a new file at the same path.
func TestLock_AWaiterOnALockFileForgetRemovedLocksTheNewOne(t *testing.T) {
	s := OpenAt(t.TempDir(), "host-1")
	l := s.Users(plan.Plan{Attachment: a, InContainer: true})
	unlock, err := l.Lock("vf0")
	if err != nil {
		t.Fatal(err)
	}
	waiterIn := make(chan func())
	go func() {
		u, err := l.Lock("vf1") // another master of the same container: the same scope lock
		if err != nil {
			t.Error(err)
		}
		waiterIn <- u
	}()
	time.Sleep(100 * time.Millisecond)
	if err := l.Forget(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.dir); !os.IsNotExist(err) {
		t.Fatal("Forget kept an unused container scope")
	}
	unlock()
	u := <-waiterIn
	defer u()
	// The waiter holds the file now at the path: a newcomer must wait.
	got := make(chan struct{})
	go func() {
		if u2, err := l.Lock("vf0"); err == nil {
			u2()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a newcomer got the scope's lock while the waiter held it: the waiter had locked the removed file")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRecords_HeldByAnotherNetworkSeesTheSamePairElsewhere(t *testing.T) {
	s := OpenAt(t.TempDir(), "host-1")
	x := plan.Attachment{ContainerID: "c9", IfName: "net1", Network: "x"}
	y := x
	y.Network = "y"
	if s.HeldByAnotherNetwork(x) {
		t.Fatal("an empty store holds something")
	}
	if err := s.Put(plan.Plan{Attachment: y, Backend: "kernel", Master: plan.Master{Name: "eth0"}, Endpoint: &plan.MacvlanEndpoint{Iface: plan.Iface{Name: "net1"}, Mode: "bridge"}}); err != nil {
		t.Fatal(err)
	}
	if !s.HeldByAnotherNetwork(x) || s.HeldByAnotherNetwork(y) {
		t.Fatal("network y's record of c9:net1 must count for x, and not for y itself")
	}
}

// waits reports whether lock blocks for 200 ms while the caller holds
// what it holds, then lets it through once release runs.
func waits(t *testing.T, lock func() (func(), error), release func()) bool {
	t.Helper()
	got := make(chan struct{})
	go func() {
		if u, err := lock(); err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		release()
		return false
	case <-time.After(200 * time.Millisecond):
	}
	release()
	<-got
	return true
}

// The verbs hold a master's lock shared and qinq-admin whole; under it,
// ADDs joining one link share its key's lock, and a DEL or GC deciding
// whether the link goes takes it whole.
func TestLock_KeysOfOneMasterAndJoinersOfOneKeyRunSideBySide(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	m1, err := l.LockMaster("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if waits(t, func() (func(), error) { return l.LockMaster("eth0") }, func() {}) {
		t.Error("a second verb waited for the master's lock")
	}
	k1, err := l.LockKey("eth0:88a8.100", true)
	if err != nil {
		t.Fatal(err)
	}
	if waits(t, func() (func(), error) { return l.LockKey("eth0:88a8.100", true) }, func() {}) {
		t.Error("a second joiner waited for the key's shared lock")
	}
	if waits(t, func() (func(), error) { return l.LockKey("eth0:88a8.200", false) }, func() {}) {
		t.Error("another key of the master waited")
	}
	if !waits(t, func() (func(), error) { return l.LockKey("eth0:88a8.100", false) }, k1) {
		t.Error("the key's whole lock was taken while a joiner held it shared")
	}
	if !waits(t, func() (func(), error) { return l.Lock("eth0") }, m1) {
		t.Error("qinq-admin's whole master lock was taken while a verb held it shared")
	}
}

// Done removes the key's lock file with its users' directory, under the
// key's lock whole: a waiter on the removed file locks the new one.
func TestLock_DoneRemovesTheKeysLockFileAndAWaiterLocksTheNewOne(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	key := "eth0:88a8.100"
	if err := l.Use(key, a); err != nil {
		t.Fatal(err)
	}
	unlock, err := l.LockKey(key, false)
	if err != nil {
		t.Fatal(err)
	}
	waiterIn := make(chan func())
	go func() {
		u, err := l.LockKey(key, true)
		if err != nil {
			t.Error(err)
		}
		waiterIn <- u
	}()
	time.Sleep(100 * time.Millisecond)
	if u, err := l.Release(key, a); err != nil || u != Unused {
		t.Fatalf("release: %v %v", u, err)
	}
	if err := l.Done(key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "locks", key+".lock")); !os.IsNotExist(err) {
		t.Fatalf("Done kept the key's lock file: %v", err)
	}
	unlock()
	u := <-waiterIn
	if !waits(t, func() (func(), error) { return l.LockKey(key, false) }, u) {
		t.Error("a newcomer got the key's whole lock while the waiter held it: the waiter had locked the removed file")
	}
}

// LockKeys holds the master shared and every key given whole, until unlock.
func TestLock_LockKeysHoldsEachKeyWholeUntilUnlock(t *testing.T) {
	l := OpenAt(t.TempDir(), "host-1").HostUsers()
	unlock, err := l.LockKeys("eth0", "eth0:88a8.100", "eth0:88a8.100:8100.10")
	if err != nil {
		t.Fatal(err)
	}
	if waits(t, func() (func(), error) { return l.LockMaster("eth0") }, func() {}) {
		t.Error("another verb waited for the master's lock")
	}
	if !waits(t, func() (func(), error) { return l.LockKey("eth0:88a8.100:8100.10", true) }, unlock) {
		t.Error("a joiner got the innermost key while LockKeys held it")
	}
	if waits(t, func() (func(), error) { return l.LockKey("eth0:88a8.100", false) }, func() {}) {
		t.Error("a key stayed locked after unlock")
	}
}
