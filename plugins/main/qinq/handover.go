package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// elsewhere says that a mode's backend lives in another binary beside this
// one: bin/qinq-ovs, the same plugin built with the OVS backend. Backends are
// chosen before anything changes, so the whole invocation can be handed over.
type elsewhere struct {
	kind  config.Backend
	known bool
}

func (e elsewhere) Error() string { return fmt.Sprintf("mode %q is served by %s", e.kind, e.binary()) }

func (e elsewhere) binary() string { return "qinq-" + string(e.kind) }

// handingOver wraps a verb: when it finds that its mode is served by the
// binary beside this one, it executes that binary in its place with the same
// CNI environment and stdin; that binary answers the runtime (and logs).
func handingOver(verb func(*run) error) func(*run) error {
	return func(r *run) error {
		err := verb(r)
		var e elsewhere
		if !errors.As(err, &e) {
			return err
		}
		if !e.known {
			return cnierr.Internal("choose the backend", fmt.Errorf("mode %q is not one this binary knows", e.kind))
		}
		return handOver(e.binary(), r.args.StdinData)
	}
}

// handOver executes the named binary from this binary's directory with
// stdin replaced by data (the config this process already read). It returns
// only if that fails.
func handOver(name string, stdin []byte) error {
	self, err := os.Executable()
	if err != nil {
		return cnierr.Internal("find this binary's directory", err)
	}
	path := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(path); err != nil {
		return cnierr.Unavailable("%s is missing beside %s: the Open vSwitch mode lives in it; install both binaries into the CNI bin directory", path, self)
	}
	fd, err := unix.MemfdCreate("qinq-stdin", 0)
	if err == nil {
		err = writeAll(fd, stdin)
	}
	if err == nil {
		_, err = unix.Seek(fd, 0, 0)
	}
	if err == nil {
		err = unix.Dup3(fd, 0, 0)
	}
	if err != nil {
		return cnierr.Internal("pass the configuration on to "+name, err)
	}
	return cnierr.Internal("execute "+path, syscall.Exec(path, []string{path}, os.Environ()))
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
