// Package golden compares what the code writes today with the contract file
// a release committed: records, owner marks, names and external_ids live on
// nodes across releases, so a change to any of them must be a decision, made
// by rewriting the file (QINQ_GOLDEN_UPDATE=1 go test ./pkg/...), never a
// side effect of a refactor.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// UpdateEnv, set to 1, rewrites the golden files instead of comparing.
const UpdateEnv = "QINQ_GOLDEN_UPDATE"

// Check fails t unless got is byte for byte the content of path.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if os.Getenv(UpdateEnv) == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (%s=1 writes it)", err, UpdateEnv)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is a contract with running nodes, and this build no longer matches it:\n got: %s\nwant: %s\n"+
			"if the change is deliberate, keep reading what releases wrote and rewrite it with %s=1",
			path, got, want, UpdateEnv)
	}
}
