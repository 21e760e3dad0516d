package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/link"
	"github.com/qinq-cni/qinq/pkg/refs"
)

// cmdGC (CNI 1.1.0) detaches every attachment of this network that is not in
// cni.dev/valid-attachments, deletes owned shared links nobody uses, and
// forwards GC to IPAM. It does all it can and reports every error.
func cmdGC(args *skel.CmdArgs) error {
	conf, err := config.Parse(args.StdinData)
	if err != nil {
		return err
	}
	valid := validAttachments(args.StdinData)
	keep := func(a refs.Attachment) bool { return valid[a.ContainerID+"/"+a.IfName] }
	errs := []error{link.Kernel{Refs: refs.Default()}.Collect(conf.Name, keep)}
	if conf.IPAMType != "" {
		errs = append(errs, invoke.DelegateGC(context.Background(), conf.IPAMType, conf.Raw, nil))
	}
	if err := errors.Join(errs...); err != nil {
		return cnierr.AsCNI("garbage collection", err)
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
