package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/link"
	"github.com/qinq-cni/qinq/pkg/refs"
)

// cmdGC (CNI 1.1.0) detaches every attachment of this network that is not in
// cni.dev/valid-attachments, releases its IPAM allocation, deletes owned
// shared links nobody uses, and forwards GC to IPAM. It does all it can and
// reports every error.
func cmdGC(args *skel.CmdArgs) error {
	conf, err := config.Parse(args.StdinData, "")
	if err != nil {
		return err
	}
	valid := validAttachments(args.StdinData)
	keep := func(a refs.Attachment) bool { return valid[a.ContainerID+"/"+a.IfName] }
	var detached []refs.Attachment
	if conf.Mode == config.ModeOVS {
		detached, err = gcOVS(conf, keep)
	} else {
		detached, err = link.Kernel{Refs: refs.Default()}.Collect(conf.Name, keep)
	}
	errs := []error{err}
	if conf.IPAMType != "" {
		for _, a := range detached {
			errs = append(errs, releaseIPAM(conf, args.Path, a))
		}
		errs = append(errs, invoke.DelegateGC(context.Background(), conf.IPAMType, conf.Raw, nil))
	}
	if err := errors.Join(errs...); err != nil {
		return cnierr.Combine("garbage collection", err)
	}
	return nil
}

// validAttachments reads cni.dev/valid-attachments and its older spelling
// cni.dev/attachments.
func validAttachments(stdin []byte) map[string]bool {
	var in struct {
		Valid  []types.GCAttachment `json:"cni.dev/valid-attachments"`
		Legacy []types.GCAttachment `json:"cni.dev/attachments"`
	}
	_ = json.Unmarshal(stdin, &in) // already parsed once by config.Parse
	out := map[string]bool{}
	for _, a := range append(in.Valid, in.Legacy...) {
		out[a.ContainerID+"/"+a.IfName] = true
	}
	return out
}

// releaseIPAM runs IPAM DEL for an attachment GC detached: many IPAM plugins
// (host-local among them) do not implement GC, and would leak it otherwise.
func releaseIPAM(conf *config.Config, cniPath string, a refs.Attachment) error {
	plugin, err := invoke.FindInPath(conf.IPAMType, filepath.SplitList(cniPath))
	if err != nil {
		return err
	}
	args := &invoke.Args{Command: "DEL", ContainerID: a.ContainerID, IfName: a.IfName, NetNS: a.Netns, Path: cniPath}
	return invoke.ExecPluginWithoutResult(context.Background(), plugin, conf.Raw, args, nil)
}
