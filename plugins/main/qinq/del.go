package main

import (
	"encoding/json"
	"errors"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/link"
	"github.com/qinq-cni/qinq/pkg/refs"
)

// cmdDel removes the container link, releases the shared links and the IPAM
// allocation. It goes by what ADD recorded, so a config edited since (an
// sVlan changed, allow-lists narrowed) still removes what was built; only
// without any record does it plan from the config. Whatever is already gone
// is skipped: DEL succeeds when there is nothing left to delete.
func cmdDel(args *skel.CmdArgs) error {
	inv, err := load(args)
	var cniErr *types.Error
	if errors.As(err, &cniErr) && cniErr.Code == types.ErrInvalidNetworkConfig {
		return delRecorded(args)
	}
	if err != nil {
		return err
	}
	if inv.conf.Mode == config.ModeOVS {
		return delOVS(inv, args)
	}
	found, err := inv.backend.DetachRecorded(inv.attachment)
	if err == nil && !found {
		err = detachPlanned(inv)
	}
	if err != nil {
		return err
	}
	if inv.conf.IPAMType != "" {
		if err := ipam.ExecDel(inv.conf.IPAMType, inv.conf.Raw); err != nil {
			return cnierr.AsCNI("release the IPAM allocation", err)
		}
	}
	return nil
}

// detachPlanned detaches the stack the config plans, for an attachment with
// no record (its references were lost, or ADD never got to write one).
func detachPlanned(inv *invocation) error {
	ends, req, err := inv.open(true)
	if err != nil {
		return err
	}
	defer ends.Close()
	return inv.backend.Detach(req)
}

// delRecorded is DEL for a config that no longer validates: no ADD can
// succeed with it now, but one may have succeeded before it changed.
func delRecorded(args *skel.CmdArgs) error {
	a := refs.Attachment{ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns}
	if _, err := (link.Kernel{Refs: refs.Default()}).DetachRecorded(a); err != nil {
		return err
	}
	var nc types.NetConf
	if json.Unmarshal(args.StdinData, &nc) != nil || nc.IPAM.Type == "" {
		return nil
	}
	if _, err := invoke.FindInPath(nc.IPAM.Type, filepath.SplitList(args.Path)); err != nil {
		return nil // no such IPAM plugin: it cannot hold an allocation either
	}
	return cnierr.AsCNI("release the IPAM allocation", ipam.ExecDel(nc.IPAM.Type, args.StdinData))
}
