package record

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qinq-cni/qinq/pkg/plan"
)

// A symlink planted at a record or at its temporary name is never followed:
// the file it points to keeps its content, and the record works as usual.
func TestRecords_PlantedSymlinksAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	s := OpenAt(dir, "host-1")
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	os.MkdirAll(s.networkDir(a.Network), 0o700)
	os.Symlink(victim, s.recordFile(a))
	os.Symlink(victim, s.v1File(a))
	os.Symlink(victim, filepath.Join(s.networkDir(a.Network), "."+a.ID()+".tmp"))
	if _, found, err := s.Get(a); found || err != nil {
		t.Fatalf("a planted link reads as %v %v, want absent", found, err)
	}
	if plans, err := s.List(a.Network); len(plans) != 0 || err != nil {
		t.Fatalf("List: %v %v", plans, err)
	}
	p := plan.Plan{Attachment: a, Backend: "kernel", Endpoint: plan.NoEndpoint{}}
	if err := s.Put(p); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Get(a); !found || err != nil {
		t.Fatalf("after Put: %v %v", found, err)
	}
	if err := s.Drop(a); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "keep" {
		t.Fatalf("the victim now holds %q", data)
	}
}
