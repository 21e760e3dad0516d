package refs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var (
	a = Attachment{ContainerID: "c1", IfName: "net1", Network: "n"}
	b = Attachment{ContainerID: "c2", IfName: "net1", Network: "n"}
)

func TestReferences_CountUsersAndGoWithTheLast(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, x := range []Attachment{a, b} {
		if err := s.Add("host-1", "eth0:88a8.100", x); err != nil {
			t.Fatal(err)
		}
	}
	if users, _ := s.Users("host-1", "eth0:88a8.100"); !slices.Equal(users, []string{"c1:net1", "c2:net1"}) {
		t.Fatalf("users %v", users)
	}
	s.Remove("host-1", "eth0:88a8.100", a)
	if !s.Has("host-1", "eth0:88a8.100", b) || s.Has("host-1", "eth0:88a8.100", a) {
		t.Fatal("Remove dropped the wrong reference")
	}
	s.Remove("host-1", "eth0:88a8.100", b)
	if _, err := os.Stat(filepath.Join(s.Dir, "host-1", "links", "eth0:88a8.100")); !os.IsNotExist(err) {
		t.Fatal("the key's directory outlived its last reference")
	}
	if err := s.Remove("host-1", "eth0:88a8.100", b); err != nil {
		t.Fatalf("removing a reference already gone: %v", err)
	}
}

func TestReferences_ATempFileAKilledWriterLeftDoesNotKeepTheKeyAlive(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	s.Add("host-1", "eth0:88a8.100", a)
	os.WriteFile(filepath.Join(s.Dir, "host-1", "links", "eth0:88a8.100", ".tmp-123"), []byte("{"), 0o600)
	if users, _ := s.Users("host-1", "eth0:88a8.100"); len(users) != 1 {
		t.Fatalf("a temp file counted as a user: %v", users)
	}
	s.Remove("host-1", "eth0:88a8.100", a)
	if _, err := os.Stat(filepath.Join(s.Dir, "host-1", "links", "eth0:88a8.100")); !os.IsNotExist(err) {
		t.Fatal("the key's directory survived because of a crash leftover")
	}
}

func TestReferences_KeysOfAndScopes(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	s.Add("host-1", "eth0:88a8.100", a)
	s.Add("host-1", "eth0:88a8.100:8100.10", a)
	s.Add("host-1", "eth0:88a8.100:8100.20", b)
	keys, _ := s.KeysOf("host-1", a)
	if !slices.Equal(keys, []string{"eth0:88a8.100", "eth0:88a8.100:8100.10"}) {
		t.Fatalf("keys of a: %v", keys)
	}
	s.Add("ctr-1", "vf0:88a8.7", a)
	s.Remove("ctr-1", "vf0:88a8.7", a)
	if err := s.RemoveScopeIfUnused("ctr-1"); err != nil {
		t.Fatal(err)
	}
	if scopes, _ := s.Scopes(); !slices.Equal(scopes, []string{"host-1"}) {
		t.Fatalf("scopes %v", scopes)
	}
	if err := s.RemoveScopeIfUnused("host-1"); err != nil {
		t.Fatal(err)
	}
	if scopes, _ := s.Scopes(); len(scopes) != 1 {
		t.Fatal("a scope with references was removed")
	}
}

func TestAttachmentIDs_NeverCollide(t *testing.T) {
	x := Attachment{ContainerID: "a.b", IfName: "c"}
	y := Attachment{ContainerID: "a", IfName: "b.c"}
	if x.ID() == y.ID() {
		t.Fatalf("%q and %q share a reference file", x.ContainerID+"/"+x.IfName, y.ContainerID+"/"+y.IfName)
	}
}

func TestLock_SerialisesHoldersOfOneParent(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	unlock, err := s.Lock("host-1", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u2, err := s.Lock("host-1", "eth0")
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

func TestSweepParent_RemovesKeysAKilledWriterLeftWithoutAReference(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	s.Add("host-1", "eth0:88a8.100", a)
	halfDone := filepath.Join(s.Dir, "host-1", "links", "eth0:88a8.100:8100.10")
	os.MkdirAll(halfDone, 0o700)
	os.WriteFile(filepath.Join(halfDone, ".tmp-9"), []byte("{"), 0o600)
	otherParent := filepath.Join(s.Dir, "host-1", "links", "eth1:88a8.100")
	os.MkdirAll(otherParent, 0o700)
	if err := s.SweepParent("host-1", "eth0"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(halfDone); !os.IsNotExist(err) {
		t.Fatal("a key directory with no reference survived the sweep")
	}
	if !s.Has("host-1", "eth0:88a8.100", a) {
		t.Fatal("the sweep removed a live reference")
	}
	if _, err := os.Stat(otherParent); err != nil {
		t.Fatal("the sweep touched another parent's keys, whose lock it does not hold")
	}
}
