package main

import (
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// cmdDel removes the container link, releases the shared links and the IPAM
// allocation. Whatever is already gone is skipped, so DEL succeeds when there
// is nothing left to delete and can be repeated.
func cmdDel(args *skel.CmdArgs) error {
	inv, err := load(args)
	var cniErr *types.Error
	if errors.As(err, &cniErr) && cniErr.Code == types.ErrInvalidNetworkConfig {
		// No ADD can have succeeded with this config: nothing to delete.
		return nil
	}
	if err != nil {
		return err
	}
	if inv.conf.Mode == config.ModeOVS {
		return delOVS(inv, args)
	}
	ends, req, err := inv.open(true)
	if err != nil {
		return err
	}
	defer ends.Close()
	if err := inv.backend.Detach(req); err != nil {
		return err
	}
	if inv.conf.IPAMType != "" {
		if err := ipam.ExecDel(inv.conf.IPAMType, inv.conf.Raw); err != nil {
			return cnierr.AsCNI("release the IPAM allocation", err)
		}
	}
	return nil
}
