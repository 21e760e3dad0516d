package main

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/link"
	"github.com/qinq-cni/qinq/pkg/refs"
	"github.com/qinq-cni/qinq/pkg/stack"
)

// The CNI spec's container ID alphabet; it also keeps reference file names safe.
var containerIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)

// invocation is everything a verb needs, parsed and validated once.
type invocation struct {
	conf       *config.Config
	attachment refs.Attachment
	backend    link.Kernel
}

// load parses the config and the CNI_* arguments.
func load(args *skel.CmdArgs) (*invocation, error) {
	conf, err := config.Parse(args.StdinData, args.Args)
	if err != nil {
		return nil, err
	}
	if !containerIDRe.MatchString(args.ContainerID) {
		return nil, cnierr.InvalidEnv("CNI_CONTAINERID", "%q: must be letters, digits, '_', '.' or '-'", args.ContainerID)
	}
	if err := config.ValidateIfName(args.IfName); err != nil {
		return nil, err
	}
	// Checked before anything changes: with the host as "container", DEL
	// would delete host links and ADD would stack into the host.
	if args.Netns != "" && link.IsHostNS(args.Netns) {
		return nil, cnierr.InvalidEnv("CNI_NETNS", "%q is the host's own network namespace", args.Netns)
	}
	if err := findIPAM(conf, args.Path); err != nil {
		return nil, cnierr.InvalidConfig("ipam.type", "%v", err)
	}
	return &invocation{
		conf: conf,
		attachment: refs.Attachment{
			ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns, Network: conf.Name,
		},
		backend: link.Kernel{Refs: refs.Default()},
	}, nil
}

// open opens the namespaces and plans the stack. On DEL (tolerant) a missing
// netns or master is not an error: the plan is still made, without MTUs.
func (inv *invocation) open(tolerant bool) (*link.Ends, link.Request, error) {
	ends, err := link.Open(inv.attachment.Netns, inv.conf.LinkInContainer, tolerant)
	if err != nil {
		return nil, link.Request{}, err
	}
	parent, err := ends.Parent(inv.conf.Master)
	if tolerant {
		// DEL needs no MTU: planning without one never refuses, even when the
		// master is gone or its MTU was lowered after ADD.
		parent, err = stack.Parent{Name: inv.conf.Master}, nil
	}
	var st stack.Stack
	if err == nil {
		st, err = stack.Plan(inv.conf, parent, inv.attachment.IfName)
	}
	if err != nil {
		ends.Close()
		return nil, link.Request{}, err
	}
	return ends, link.Request{Stack: st, Ends: ends, Attachment: inv.attachment, MAC: inv.conf.MAC}, nil
}

// findIPAM checks that the IPAM plugin exists in CNI_PATH, so a typo in
// ipam.type is refused before anything is built.
func findIPAM(conf *config.Config, cniPath string) error {
	if conf.IPAMType == "" {
		return nil
	}
	if _, err := invoke.FindInPath(conf.IPAMType, filepath.SplitList(cniPath)); err != nil {
		return fmt.Errorf("%q: no such IPAM plugin in CNI_PATH %q", conf.IPAMType, cniPath)
	}
	return nil
}
