// Command pause is the process of a pod sandbox (what registry.k8s.io/pause
// runs): it holds the pod's namespaces open, reaps the zombies it inherits
// as the pod's PID 1, and exits on SIGINT or SIGTERM. Static, no libc:
// scripts/runtime/setup.sh builds it into the pause image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}
