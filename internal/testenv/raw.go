package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// Vars is the CNI_* environment of one raw run; a key absent is unset.
type Vars map[string]string

// Vars is the environment a runtime sets for command on the container's
// ifName (a nil c: no CNI_CONTAINERID, no CNI_NETNS).
func (e *Env) Vars(command string, c *Container, ifName string) Vars {
	v := Vars{"CNI_COMMAND": command, "CNI_PATH": e.CNIPath, "CNI_IFNAME": ifName}
	if c != nil {
		v["CNI_CONTAINERID"] = c.ID
		v["CNI_NETNS"] = c.NetNSPath()
	}
	return v
}

// With sets variables: With("CNI_IFNAME", "net/1").
func (v Vars) With(kv ...string) Vars {
	return edited(v, func(d Vars) {
		for i := 0; i+1 < len(kv); i += 2 {
			d[kv[i]] = kv[i+1]
		}
	})
}

// Without unsets variables.
func (v Vars) Without(keys ...string) Vars { return edited(v, nil, keys...) }

// Outcome is what a raw run did: exit status, stdout, stderr.
type Outcome struct {
	Command string
	Exit    int
	Stdout  []byte
	Stderr  []byte
}

func (o Outcome) String() string {
	return fmt.Sprintf("%s: exit %d, stdout %q, stderr %q", o.Command, o.Exit, o.Stdout, o.Stderr)
}

// Raw runs the plugin on the node with exactly the variables v (plus PATH,
// QINQ_STATE_DIR when Env sets it, and ExtraEnv) and stdin: the inputs a
// library like libcni would refuse before the plugin ever ran.
func (n *Node) Raw(v Vars, stdin []byte, opts ...InvokeOption) Outcome {
	n.t.Helper()
	cmd := n.RawCommand(v, stdin, opts...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := n.Run(cmd)
	o := Outcome{Command: v["CNI_COMMAND"], Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee):
		o.Exit = ee.ExitCode()
	default:
		n.t.Fatalf("exec %s: %v", cmd.Path, runErr)
	}
	return o
}

// RawCommand is the command Raw runs, for a caller that wants to Start it
// (and kill it mid-way).
func (n *Node) RawCommand(v Vars, stdin []byte, opts ...InvokeOption) *exec.Cmd {
	i := n.invocation(opts)
	cmd := exec.Command(i.binary)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, i.extraEnv...)
	for k, x := range v {
		cmd.Env = append(cmd.Env, k+"="+x)
	}
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd
}

// OK asserts success: exit 0. It returns stdout.
func (o Outcome) OK(t testing.TB) []byte {
	t.Helper()
	if o.Exit != 0 {
		t.Fatalf("want success, got %v", o)
	}
	return o.Stdout
}

// Fails asserts the spec's error protocol: a non-zero exit and a JSON error
// on stdout with code, whose msg contains each string. It returns that error
// (a value: its msg and details to look at, never a nil error to compare).
func (o Outcome) Fails(t testing.TB, code uint, contains ...string) types.Error {
	t.Helper()
	if o.Exit == 0 {
		t.Fatalf("want error code %d, got success: %v", code, o)
	}
	var e types.Error
	if err := json.Unmarshal(o.Stdout, &e); err != nil || e.Code == 0 {
		t.Fatalf("want a JSON error on stdout (code %d), got %v", code, o)
	}
	if e.Code != code {
		t.Fatalf("want error code %d, got %d (%q, %q)", code, e.Code, e.Msg, e.Details)
	}
	for _, s := range contains {
		if !strings.Contains(e.Msg, s) {
			t.Fatalf("error %d: msg %q does not name %q (details %q)", e.Code, e.Msg, s, e.Details)
		}
	}
	return e
}
