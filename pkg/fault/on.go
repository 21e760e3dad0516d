//go:build faultinject

package fault

import (
	"fmt"
	"os"
	"syscall"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Point fails when QINQ_FAULT names it ("ipam"), and kills the process
// outright when QINQ_FAULT is "kill@" plus its name ("kill@ipam"), as an OOM
// killer or a node reboot would.
func Point(name string) error {
	switch os.Getenv("QINQ_FAULT") {
	case name:
		return cnierr.Internal("fault", fmt.Errorf("injected fault at %s", name))
	case "kill@" + name:
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not instantaneous
	}
	return nil
}
