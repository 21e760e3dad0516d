//go:build !kerneltest

package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the tests exec this very binary as the plugin (with
// QINQ_TEST_AS_PLUGIN=1): the exit status and stdout are then the real
// ones, as a runtime sees them, without a kernel.
func TestMain(m *testing.M) {
	switch os.Getenv("QINQ_TEST_AS_PLUGIN") {
	case "1":
		main()
		os.Exit(0)
	case "netns":
		ns, _ := os.Readlink("/proc/self/ns/net")
		fmt.Print(ns)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// confined runs cmd in a network namespace of its own, holding only a
// loopback: the unit tests run GC, DEL and ADD with an empty temporary
// state directory, and on the developer's host namespace GC would judge
// the node's own links by it. Root gets a bare new namespace; anybody else
// a user namespace too, mapping them to root in it.
func confined(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if uid, gid := os.Getuid(), os.Getgid(); uid != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	}
}

// plugin is one exec of the plugin with a CNI environment on the host.
type plugin struct {
	t       *testing.T
	bin     string // this test binary, or a copy of it
	cniPath string
	state   string
	etc     string // QINQ_ETC_DIR: absent unless a test makes it
	logDir  string // QINQ_LOG_DIR
	cniArgs string
	netns   string // CNI_NETNS: /nonexistent/netns unless a test sets it
}

func newPlugin(t *testing.T) *plugin {
	dir := t.TempDir()
	// A stand-in for host-local (an allowed IPAM type) that agrees to
	// everything and says so in a file.
	ipam := "#!/bin/sh\necho \"$CNI_COMMAND\" >> " + filepath.Join(dir, "ipam.calls") + "\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "host-local"), []byte(ipam), 0o755); err != nil {
		t.Fatal(err)
	}
	return &plugin{t: t, bin: os.Args[0], cniPath: dir, state: filepath.Join(dir, "state"),
		etc: filepath.Join(dir, "etc"), logDir: filepath.Join(dir, "log")}
}

func (p *plugin) run(verb, stdin string) (exit int, stdout string) {
	cmd := exec.Command(p.bin)
	netns := cmp.Or(p.netns, "/nonexistent/netns")
	cmd.Env = append(os.Environ(), "QINQ_TEST_AS_PLUGIN=1", "CNI_COMMAND="+verb, "CNI_CONTAINERID=c1",
		"CNI_NETNS="+netns, "CNI_IFNAME=net1", "CNI_PATH="+p.cniPath, "QINQ_STATE_DIR="+p.state,
		"QINQ_ETC_DIR="+p.etc, "QINQ_LOG_DIR="+p.logDir, "CNI_ARGS="+p.cniArgs)
	cmd.Stdin = strings.NewReader(stdin)
	confined(cmd)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return 0, out.String()
}

// The defect issue 9 found: a config edited into an invalid value, with
// logFile and an ipam section, made DEL crash (a typed nil *types.Error
// returned as an error, then Error() called on it by the logger): exit 2, no
// CNI error, and a pod stuck terminating forever.
func TestDEL_OfAConfigEditedIntoAnInvalidValueWithLogFileAndIPAMSucceedsAndLogsOneLine(t *testing.T) {
	p := newPlugin(t)
	logFile := filepath.Join(p.logDir, "qinq.log")
	stdin := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":5000,` +
		`"logFile":"` + logFile + `","ipam":{"type":"host-local"}}`
	exit, out := p.run("DEL", stdin)
	if exit != 0 || out != "" {
		t.Fatalf("DEL: exit %d, stdout %q; want exit 0 and nothing", exit, out)
	}
	data, _ := os.ReadFile(logFile)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var rec map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec["verb"] != "DEL" || rec["level"] != "INFO" {
		t.Fatalf("want one JSON line for a successful DEL, got %q", data)
	}
	if calls, _ := os.ReadFile(filepath.Join(p.cniPath, "ipam.calls")); string(calls) != "DEL\n" {
		t.Fatalf("IPAM calls %q, want one DEL: the allocation of the old config must be released", calls)
	}
}

// Every verb answers bad input with a CNI error, never a crash.
func TestVerbs_NeverPanicOnBadInput(t *testing.T) {
	p := newPlugin(t)
	logFile := filepath.Join(p.logDir, "qinq.log")
	for _, stdin := range []string{
		`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":5000}`,
		`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":"x","cVlans":{}}`,
		`{"cniVersion":"1.1.0","name":"n","type":"qinq","mode":"ovs","sVlan":100,"bridge":"br0","ovsdbSocket":"unix:/nonexistent","logFile":"` + logFile + `"}`,
		`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"prevResult":{"interfaces":[{"name":"x"}]},"logFile":"` + logFile + `"}`,
		`not json`,
	} {
		for _, verb := range []string{"ADD", "DEL", "CHECK", "GC", "STATUS"} {
			exit, out := p.run(verb, stdin)
			if exit == 2 || strings.Contains(out, "panic") {
				t.Errorf("%s %s: exit %d: %s", verb, stdin, exit, out)
			}
			if exit != 0 && !strings.Contains(out, `"code"`) {
				t.Errorf("%s %s: exit %d without a CNI error on stdout: %q", verb, stdin, exit, out)
			}
		}
	}
}

// The guard itself: a plugin run by these tests never sees the host's
// network namespace (control: this process's own, which it is in).
func TestUnitPluginRuns_AreConfinedToANetworkNamespaceOfTheirOwn(t *testing.T) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "QINQ_TEST_AS_PLUGIN=netns")
	confined(cmd)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("a confined run: %v (the unit tests need root or unprivileged user namespaces)", err)
	}
	if string(out) == self || !strings.HasPrefix(string(out), "net:[") {
		t.Fatalf("the plugin ran in %q, this test in %q: it must be another namespace", out, self)
	}
}

func TestByHand_WithoutCNIVariablesPrintsWhatItIsAndExitsNonZero(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"QINQ_TEST_AS_PLUGIN=1", "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 {
		t.Fatalf("by hand: %v, want a non-zero exit", err)
	}
	for _, want := range []string{"qinq " + Version, "CNI plugin", "CNI_COMMAND", "README", "1.1.0"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the text lacks %q:\n%s", want, stderr.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout is for CNI results only, got %q", stdout.String())
	}
}

// GC fails closed: a list it cannot read would keep nothing.
func TestGC_RefusesAMalformedValidAttachmentsListWithCode7NamingIt(t *testing.T) {
	p := newPlugin(t)
	base := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,`
	for _, list := range []string{
		`"cni.dev/valid-attachments":{"containerID":"c1","ifname":"net1"}}`,
		`"cni.dev/valid-attachments":["c1/net1"]}`,
		`"cni.dev/valid-attachments":[{"containerID":"c1"}]}`,
		`"cni.dev/valid-attachments":[null]}`,
		`"cni.dev/attachments":"c1"}`,
	} {
		exit, out := p.run("GC", base+list)
		var e struct {
			Code uint   `json:"code"`
			Msg  string `json:"msg"`
		}
		if exit == 0 || json.Unmarshal([]byte(out), &e) != nil || e.Code != 7 || !strings.Contains(e.Msg, "cni.dev/") {
			t.Errorf("GC with %s: exit %d, %s; want code 7 naming the key", list, exit, out)
		}
	}
	for _, list := range []string{`"cni.dev/valid-attachments":null}`, `"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"}]}`} {
		if exit, out := p.run("GC", base+list); exit != 0 {
			t.Errorf("GC with %s (well-formed): exit %d, %s", list, exit, out)
		}
	}
}
