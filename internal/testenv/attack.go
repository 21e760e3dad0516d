package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// A pod with CAP_NET_ADMIN attacks the network namespaces the kernel gives
// it ids for (a veth peer's or lower link's link-netnsid): bin/qinq-nsattack
// (internal/testenv/nsattack) runs in the pod's network namespace, reads one
// AttackRequest a line on stdin and answers one AttackReport a line.

// LinkRef names a link as the namespace holding it sees it.
type LinkRef struct {
	Name  string
	Index int
}

// AttackRequest is one round: find the namespaces, then (Do) delete Victim,
// stack an 802.1ad S-link SVlan on Master (in the namespace holding it) and
// a C-link CVlan on that, with Addr, up.
type AttackRequest struct {
	Master, Victim LinkRef
	SVlan, CVlan   int
	Addr           string
	Do             bool
	// Nest starts, below the attacker's user namespace, a process in a user
	// namespace and a network namespace of its own (NestedPid).
	Nest bool `json:",omitempty"`
	// Below are network namespace paths the attacker's process judges with
	// pkg/userns.Below, as qinq run in the attacker's user namespace would
	// (qinq nested, as in kind); no attack is made.
	Below []string `json:",omitempty"`
	// Hints are ids found in this network namespace by a process that may
	// list (root, in the test): tried when the attacker's own search cannot
	// find them, so that every call of the attack is made.
	Hints *Found `json:",omitempty"`
}

// Found is what a search for namespaces found: ids are this network
// namespace's ids for others (-1: not found).
type Found struct {
	Seen     []int            // the link-netnsids of this namespace's own links
	Listed   map[int][]string // ids whose links could be listed: their links' names
	Node     int              // the id of the namespace holding Master
	VictimNS int              // the id of the namespace holding Victim
}

// AttackStep is one call the attacker made: "" Errno is success.
type AttackStep struct {
	What  string
	Errno string `json:",omitempty"` // EACCES, EPERM, ...
	Err   string `json:",omitempty"`
}

// AttackReport is the answer to one AttackRequest.
type AttackReport struct {
	Found Found
	Steps []AttackStep
	// CLink is the name of the attacker's C-link in its own namespace, when made.
	CLink string `json:",omitempty"`
	// NestedPid and Below answer Nest and Below: Below's error text per
	// path ("" admitted).
	NestedPid int      `json:",omitempty"`
	Below     []string `json:",omitempty"`
	Err       string   `json:",omitempty"` // Nest failed
}

// Failed lists the steps that failed.
func (r AttackReport) Failed() []AttackStep {
	var out []AttackStep
	for _, s := range r.Steps {
		if s.Err != "" {
			out = append(out, s)
		}
	}
	return out
}

// NSAttack is the attack program (make build), copied once per test
// process into a directory anyone may enter: the attacker runs as nobody
// (uid 65534, or its own user namespace's root), which a checkout under a
// private directory (mktemp -d) would keep out.
func (e *Env) NSAttack(t testing.TB) string {
	nsattack.once.Do(func() {
		dir, err := os.MkdirTemp("", "qinq-nsattack")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		var data []byte
		if err == nil {
			data, err = os.ReadFile(filepath.Join(e.Root, "bin", "qinq-nsattack"))
		}
		if err == nil {
			nsattack.path = filepath.Join(dir, "qinq-nsattack")
			err = os.WriteFile(nsattack.path, data, 0o755)
		}
		nsattack.err = err
	})
	if nsattack.err != nil {
		t.Fatalf("copy bin/qinq-nsattack where the attacker may run it: %v", nsattack.err)
	}
	return nsattack.path
}

var nsattack struct {
	once sync.Once
	path string
	err  error
}

// Attacker is a pod whose process is the attack program: the process made
// the pod's network namespace (and, with OwnUserNS, the user namespace that
// owns it) and holds it; the test hands Pod's path to plugins as CNI_NETNS.
type Attacker struct {
	Pod       *Container
	OwnUserNS bool
	env       *Env
	in        io.WriteCloser
	out       *bufio.Scanner
}

// NewAttacker starts a pod made of the attack program. In the host's user
// namespace it runs as nobody with CAP_NET_ADMIN alone (a pod granted
// NET_ADMIN); with ownUserNS its network namespace is owned by a user
// namespace of its own (root in it is host uid 100000, as Kubernetes maps
// hostUsers: false pods), where it holds every capability, and none
// outside.
func (e *Env) NewAttacker(t testing.TB, ownUserNS bool) *Attacker {
	t.Helper()
	in, out, pid := e.startAttacker(t, ownUserNS)
	path := filepath.Join(mkdirTemp(t, "attacker-netns"), "net")
	bindNetNS(t, fmt.Sprintf("/proc/%d/ns/net", pid), path)
	n, err := ns.GetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	id := fmt.Sprintf("atk%d-%d", containerSeq.Add(1), pid)
	return &Attacker{Pod: &Container{ID: id, NS: n, path: path}, OwnUserNS: ownUserNS, env: e, in: in, out: out}
}

// startAttacker starts the attack program and returns its stdin, its
// stdout and the pid of the process that holds the pod's namespaces. In a
// user namespace of its own it is started by a launcher that prints its pid
// first (qinq-nsattack own-userns).
func (e *Env) startAttacker(t testing.TB, ownUserNS bool) (io.WriteCloser, *bufio.Scanner, int) {
	t.Helper()
	prog := e.NSAttack(t)
	cmd := exec.Command(prog)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: []uintptr{unix.CAP_NET_ADMIN}}
	if ownUserNS {
		cmd = exec.Command(prog, "own-userns")
	}
	in, stdout := pipes(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the attacker pod %s: %v", prog, err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := bufio.NewScanner(stdout)
	out.Buffer(make([]byte, 1<<20), 1<<20)
	pid := cmd.Process.Pid
	if ownUserNS && (!out.Scan() || func() error { _, err := fmt.Sscan(out.Text(), &pid); return err }() != nil) {
		t.Fatalf("the attacker in a user namespace of its own did not start: %q %v", out.Text(), out.Err())
	}
	return in, out, pid
}

// pipes are cmd's stdin and stdout, its stderr the test's.
func pipes(t testing.TB, cmd *exec.Cmd) (io.WriteCloser, io.ReadCloser) {
	t.Helper()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return in, out
}

// bindNetNS bind-mounts the network namespace at src on a new file dst, as a
// runtime pins a pod's namespace; unmounted when the test ends.
func bindNetNS(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.WriteFile(dst, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", src, dst, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
}

// Attack has the pod's own process run req.
func (a *Attacker) Attack(t testing.TB, req AttackRequest) AttackReport {
	t.Helper()
	return exchange(t, a.in, a.out, req)
}

// Discover runs the search of req (Do off) in the pod's network namespace
// as the test's root, who may list every namespace: the ids a process of the
// pod is refused, for its Hints.
func (a *Attacker) Discover(t testing.TB, req AttackRequest) Found {
	t.Helper()
	return a.env.Discover(t, a.Pod, req)
}

// Discover is Attacker.Discover for any pod's network namespace (one a
// runtime made, where the attacker is a process of the pod).
func (e *Env) Discover(t testing.TB, pod *Container, req AttackRequest) Found {
	t.Helper()
	req.Do, req.Hints = false, nil
	cmd := exec.Command(e.NSAttack(t))
	in, stdout := pipes(t, cmd)
	pod.Do(t, cmd.Start) // forked from a thread in the pod's namespace: it stays there
	defer func() { in.Close(); _ = cmd.Wait() }()
	return exchange(t, in, bufio.NewScanner(stdout), req).Found
}

func exchange(t testing.TB, in io.Writer, out *bufio.Scanner, req AttackRequest) AttackReport {
	t.Helper()
	line, _ := json.Marshal(req)
	if _, err := in.Write(append(line, '\n')); err != nil {
		t.Fatalf("send the attacker %s: %v", line, err)
	}
	if !out.Scan() {
		t.Fatalf("the attacker answered nothing to %s: %v", line, out.Err())
	}
	var rep AttackReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("the attacker's answer %q: %v", out.Bytes(), err)
	}
	return rep
}
