package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// The OVS backend is being built (issue 4); until it lands, mode "ovs" is
// refused before anything changes.
func errNoOVS() error {
	return cnierr.InvalidConfig("mode", "\"ovs\" is not available in this build; use \"kernel\"")
}

func addOVS(*invocation, *skel.CmdArgs) error   { return errNoOVS() }
func delOVS(*invocation, *skel.CmdArgs) error   { return nil }
func checkOVS(*invocation, *skel.CmdArgs) error { return errNoOVS() }
func statusOVS(*config.Config) error            { return errNoOVS() }
