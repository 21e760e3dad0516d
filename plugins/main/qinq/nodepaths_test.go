//go:build !kerneltest

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type cniError struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
}

func (p *plugin) fails(verb, stdin string, code uint, contains ...string) cniError {
	p.t.Helper()
	exit, out := p.run(verb, stdin)
	var e cniError
	if exit == 0 || json.Unmarshal([]byte(out), &e) != nil || e.Code != code {
		p.t.Fatalf("%s: exit %d, stdout %q; want code %d", verb, exit, out, code)
	}
	for _, s := range contains {
		if !strings.Contains(e.Msg, s) {
			p.t.Fatalf("%s: message %q lacks %q", verb, e.Msg, s)
		}
	}
	return e
}

// The attack issue 17 found: logFile anywhere plus a value a shell runs.
// Now logFile may only name a file in the node's log directory; the value
// is quoted in the message, and nothing is written anywhere.
func TestLogFile_OutsideTheNodesLogDirectoryIsCode7AndNothingIsWritten(t *testing.T) {
	p := newPlugin(t)
	target := filepath.Join(t.TempDir(), "profile.d", "x.sh")
	os.MkdirAll(filepath.Dir(target), 0o755)
	stdin := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"sProto":"$(touch${IFS}/tmp/pwned)","logFile":"` + target + `"}`
	for _, verb := range []string{"ADD", "CHECK", "STATUS", "GC", "DEL"} {
		if exit, _ := p.run(verb, stdin); exit == 0 && verb != "DEL" {
			t.Errorf("%s succeeded", verb)
		}
	}
	ok := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"logFile":"` + target + `"}`
	p.fails("ADD", ok, 7, "logFile", p.logDir)
	if exit, _ := p.run("DEL", ok); exit != 0 {
		t.Error("DEL must still succeed: there is nothing to delete")
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatalf("%s was written", target)
	}
	if entries, _ := os.ReadDir(p.logDir); len(entries) != 0 {
		t.Fatalf("log directory got %v", entries)
	}
}

// Control: the same log inside the log directory gets its line (mode 0600).
func TestLogFile_InTheLogDirectoryGetsOneLineMode0600(t *testing.T) {
	p := newPlugin(t)
	logFile := filepath.Join(p.logDir, "n.log")
	p.run("DEL", `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"logFile":"`+logFile+`"}`)
	st, err := os.Stat(logFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v, want a 0600 log file", st, err)
	}
}

func TestLogFile_ASymlinkPlantedAtTheLogPathIsNotFollowed(t *testing.T) {
	p := newPlugin(t)
	os.MkdirAll(p.logDir, 0o700)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep\n"), 0o644)
	logFile := filepath.Join(p.logDir, "n.log")
	os.Symlink(victim, logFile)
	p.run("DEL", `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"logFile":"`+logFile+`"}`)
	if data, _ := os.ReadFile(victim); string(data) != "keep\n" {
		t.Fatalf("the symlink was followed: %q", data)
	}
}

// Messages quote config values and cut them: no megabyte of config in a log.
func TestMessages_QuoteAndBoundConfigValues(t *testing.T) {
	p := newPlugin(t)
	long := strings.Repeat("A", 100000)
	e := p.fails("ADD", `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"sProto":"x\n`+long+`"}`, 7, "sProto", `"x\n`)
	if len(e.Msg) > 1100 || strings.Contains(e.Msg, "\n") {
		t.Fatalf("message of %d bytes (or with a raw newline): %.200q", len(e.Msg), e.Msg)
	}
}

func TestOVSDBSocket_OnlyOVSRunDirectoriesUnlessNodeJSONAllows(t *testing.T) {
	p := newPlugin(t)
	conf := func(socket string) string {
		return `{"cniVersion":"1.1.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":100,"cni.dev/valid-attachments":[],"ovsdbSocket":"` + socket + `"}`
	}
	for _, socket := range []string{"tcp:127.0.0.1:6640", "tcp:192.0.2.1:6640", "unix:/tmp/db.sock", "unix:/run/openvswitch/../../tmp/db.sock"} {
		for _, verb := range []string{"ADD", "CHECK", "GC", "STATUS"} {
			p.fails(verb, conf(socket), 7, "ovsdbSocket", "/run/openvswitch")
		}
	}
}

// A malformed valid-attachments list is code 7, never "keep nothing".
func TestGC_MalformedValidAttachmentsIsCode7(t *testing.T) {
	p := newPlugin(t)
	p.fails("GC", `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"cni.dev/valid-attachments":"all"}`, 7, "cni.dev/valid-attachments")
}

// The review's attack: a NAD's host-local dataDir under /etc/cni/qinq made
// root create a directory there (even on DEL, which containerd sends after
// a refused ADD), and with it the node policy switched on, closed, for
// every pod. ADD, CHECK and STATUS refuse such a dataDir; DEL and GC
// succeed; none runs IPAM with it.
func TestIPAMDataDir_InsideQinqsOwnDirectoriesIsRefusedAndNeverReachesIPAM(t *testing.T) {
	p := newPlugin(t)
	for _, dir := range []string{p.etc, p.etc + "/x", p.logDir, p.state + "/../state/y"} {
		conf := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"cni.dev/valid-attachments":[],` +
			`"ipam":{"type":"host-local","dataDir":"` + dir + `"}}`
		for _, verb := range []string{"ADD", "CHECK", "STATUS"} {
			p.fails(verb, conf, 7, "ipam.dataDir")
		}
		for _, verb := range []string{"DEL", "GC"} {
			if exit, out := p.run(verb, conf); exit != 0 {
				t.Fatalf("%s with dataDir %s: exit %d %s", verb, dir, exit, out)
			}
		}
	}
	if _, err := os.Stat(p.etc); err == nil {
		t.Fatalf("%s exists: the node policy would now be required", p.etc)
	}
	if calls, _ := os.ReadFile(filepath.Join(p.cniPath, "ipam.calls")); len(calls) != 0 {
		t.Fatalf("IPAM ran with a refused dataDir: %q", calls)
	}
	// Control: the same config with a dataDir of its own reaches IPAM.
	ok := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"ipam":{"type":"host-local","dataDir":"` + t.TempDir() + `"}}`
	if exit, out := p.run("DEL", ok); exit != 0 {
		t.Fatalf("DEL: exit %d %s", exit, out)
	}
	if calls, _ := os.ReadFile(filepath.Join(p.cniPath, "ipam.calls")); string(calls) != "DEL\n" {
		t.Fatalf("control: IPAM calls %q, want one DEL", calls)
	}
}
