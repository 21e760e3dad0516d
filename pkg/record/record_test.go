package record

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/qinq-cni/qinq/pkg/plan"
)

var (
	a = plan.Attachment{ContainerID: "c1", IfName: "net1", Network: "n", Netns: "/var/run/netns/c1"}
	b = plan.Attachment{ContainerID: "c2", IfName: "net1", Network: "n"}
)

func TestRecords_PutGetListDrop(t *testing.T) {
	s := At(t.TempDir(), "host-1")
	if _, found, err := s.Get(a); found || err != nil {
		t.Fatalf("a record before any Put: found=%v err=%v", found, err)
	}
	pa := plan.Plan{Attachment: a, Backend: "kernel", Master: plan.Master{Name: "eth0"}, Endpoint: plan.Endpoint{Kind: plan.KindVLAN, Key: "eth0:88a8.100"}}
	for _, p := range []plan.Plan{pa, {Attachment: b, Backend: "ovs"}} {
		if err := s.Put(p); err != nil {
			t.Fatal(err)
		}
	}
	got, found, err := s.Get(a)
	if err != nil || !found || got.Endpoint.Key != "eth0:88a8.100" || got.Attachment != a {
		t.Fatalf("Get: %+v %v %v", got, found, err)
	}
	// What a writer killed between its temporary file and the rename leaves.
	os.WriteFile(filepath.Join(s.attachments(), ".c1:net1.tmp"), []byte("{"), 0o600)
	all, err := s.List()
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %d records, %v", len(all), err)
	}
	if err := s.Drop(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(a); err != nil {
		t.Fatalf("dropping a record already gone: %v", err)
	}
	if entries, _ := os.ReadDir(s.attachments()); len(entries) != 1 {
		t.Fatalf("after Drop: %v (the temporary file must go too)", entries)
	}
}

func TestLinks_CountUsersAndGoWithTheLast(t *testing.T) {
	l := At(t.TempDir(), "host-1").HostLinks()
	for _, x := range []plan.Attachment{a, b} {
		if err := l.Use("eth0:88a8.100", x); err != nil {
			t.Fatal(err)
		}
	}
	if users, _ := l.Users("eth0:88a8.100"); !slices.Equal(users, []string{"c1:net1", "c2:net1"}) {
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
	l := At(t.TempDir(), "host-1").HostLinks()
	os.MkdirAll(l.keyDir("eth0:88a8.100"), 0o700)
	if u, err := l.Release("eth0:88a8.100", a); u != Unused || err != nil {
		t.Fatalf("%v, %v", u, err)
	}
}

// Absence of evidence: with no users' directory at all (a cleared /run/qinq,
// another mount namespace's /run) nobody can say the link is unused.
func TestLinks_AMissingKeyDirectoryIsUnknownNeverUnused(t *testing.T) {
	l := At(t.TempDir(), "host-1").HostLinks()
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
	s := At(t.TempDir(), "host-1")
	p := plan.Plan{Attachment: a, InContainer: true}
	l := s.Links(p)
	if l.dir == s.HostLinks().dir {
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
	s.HostLinks().Use("eth0:88a8.1", a)
	s.HostLinks().Release("eth0:88a8.1", a)
	s.HostLinks().Forget()
	if _, err := os.Stat(s.HostLinks().dir); err != nil {
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
	l := At(t.TempDir(), "host-1").HostLinks()
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
	s := At(t.TempDir(), "host-1")
	l := s.Links(plan.Plan{Attachment: a, InContainer: true})
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
