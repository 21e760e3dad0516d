//go:build !kerneltest && !ovs

package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ovsConfig = `{"cniVersion":"1.1.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":100}`

// bin/qinq hands an OVS-mode invocation to qinq-ovs beside it: same stdin,
// same CNI environment, and qinq-ovs's answer is the runtime's.
func TestHandover_OVSModeExecutesQinqOVSBesideWithTheSameStdinAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "qinq")
	copyFile(t, os.Args[0], self)
	seen := filepath.Join(dir, "seen")
	fake := "#!/bin/sh\ncat > " + seen + ".stdin\necho \"$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME\" > " + seen + ".env\n" +
		"echo '{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"from-qinq-ovs\"}]}'\n"
	if err := os.WriteFile(filepath.Join(dir, "qinq-ovs"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPlugin(t)
	p.bin = self
	exit, out := p.run("ADD", ovsConfig)
	if exit != 0 || !strings.Contains(out, "from-qinq-ovs") {
		t.Fatalf("ADD: exit %d, stdout %q; want qinq-ovs's answer", exit, out)
	}
	if stdin, _ := os.ReadFile(seen + ".stdin"); string(stdin) != ovsConfig {
		t.Fatalf("qinq-ovs read %q on stdin, want the config", stdin)
	}
	if env, _ := os.ReadFile(seen + ".env"); string(env) != "ADD c1 net1\n" {
		t.Fatalf("qinq-ovs saw %q", env)
	}
}

func TestHandover_WithoutQinqOVSBesideIsCode50NamingIt(t *testing.T) {
	p := newPlugin(t)
	exit, out := p.run("ADD", ovsConfig)
	var e struct {
		Code uint   `json:"code"`
		Msg  string `json:"msg"`
	}
	if exit == 0 || json.Unmarshal([]byte(out), &e) != nil || e.Code != 50 || !strings.Contains(e.Msg, "qinq-ovs is missing") {
		t.Fatalf("exit %d, stdout %q; want code 50 naming qinq-ovs", exit, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
