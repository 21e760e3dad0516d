package userns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This process's own network namespace is owned by its own user namespace:
// not below it. (A netns owned by a user namespace of its own is admitted in
// the VM: test/binary/userns_kernel_test.go.)
func TestBelow_OwnUserNamespaceIsNotEnough(t *testing.T) {
	if err := Below("/proc/self/ns/net"); !errors.Is(err, ErrOwnUserNamespace) {
		t.Fatalf("got %v, want ErrOwnUserNamespace", err)
	}
}

// Whatever is not a readable network namespace is an error: callers refuse.
func TestBelow_WhatIsNotANetworkNamespaceFailsClosed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, says := range map[string]string{
		"":                   "open the network namespace",
		"/nonexistent/netns": "no such file",
		file:                 "not a namespace",
		"/proc/self/ns/user": "not a network namespace",
		"/proc/self/ns/uts":  "not a network namespace",
		filepath.Dir(file):   "not a namespace",
	} {
		err := Below(path)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", path, err, says)
		}
	}
}
