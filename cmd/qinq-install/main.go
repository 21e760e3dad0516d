// Command qinq-install is the entrypoint of the qinq image: run by the
// DaemonSet in deploy/, it installs qinq's executables into the node's CNI
// binary directory (mounted from the host) atomically, then waits for
// SIGTERM. See internal/install.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/qinq-cni/qinq/internal/install"
)

func main() {
	src := flag.String("src", "/opt/qinq/bin", "directory holding the binaries to install")
	dst := flag.String("dst", "/host/cni-bin", "the host's CNI binary directory, as mounted in the container")
	once := flag.Bool("once", false, "exit after installing instead of waiting for SIGTERM (e.g. as an init container)")
	list := flag.Bool("list", false, "print the names of the binaries it installs, one a line, and exit")
	policySrc := flag.String("policy", "", "the node policy to install (the ConfigMap's policy.json); empty: none")
	policyDst := flag.String("policy-dst", "/host/etc-cni-qinq", "the host's /etc/cni/qinq, as mounted in the container")
	nodeSrc := flag.String("node", "", "the node's settings to install beside the policy (the ConfigMap's node.json); empty: none")
	flag.Parse()
	if *list {
		fmt.Println(strings.Join(install.Binaries, "\n"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	o := install.Options{SrcDir: *src, DstDir: *dst, PolicySrc: *policySrc, PolicyDstDir: *policyDst, NodeSrc: *nodeSrc, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	run := install.Run
	if *once {
		run = install.Install
	}
	if err := run(ctx, o); err != nil {
		o.Log.Error(err.Error())
		os.Exit(1)
	}
}
