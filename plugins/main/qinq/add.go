package main

import (
	"errors"
	"slices"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// cmdAdd: parse -> plan -> build the links -> IPAM -> result. Every step
// registers its undo, so a failure anywhere leaves nothing behind.
func cmdAdd(args *skel.CmdArgs) (err error) {
	inv, err := load(args)
	if err != nil {
		return err
	}
	if inv.conf.Mode == config.ModeOVS {
		return addOVS(inv, args)
	}
	ends, req, err := inv.open(false)
	if err != nil {
		return err
	}
	defer ends.Close()

	var u undo.Stack
	defer func() { err = withUndo(err, u.Rollback()) }()

	l, err := inv.backend.Attach(req, &u)
	if err != nil {
		return err
	}
	result, err := addIPAM(inv.conf, ends.ContainerNS, l, &u)
	if err != nil {
		return err
	}
	return printAndKeep(result, inv.conf.CNIVersion, &u)
}

// printAndKeep is the last step of every ADD: the result goes to stdout at
// the requested version, and only then is the attachment kept.
func printAndKeep(result *current.Result, cniVersion string, u *undo.Stack) error {
	if err := types.PrintResult(result, cniVersion); err != nil {
		return cnierr.Internal("print the result", err)
	}
	u.Commit()
	return nil
}

// addIPAM delegates to the IPAM plugin, if any, configures the container link
// with the addresses, and returns the result with the container interface.
func addIPAM(conf *config.Config, netns ns.NetNS, l netlink.Link, u *undo.Stack) (*current.Result, error) {
	result, err := baseResult(conf)
	if err != nil {
		return nil, err
	}
	iface := &current.Interface{Name: l.Attrs().Name, Mac: l.Attrs().HardwareAddr.String(), Sandbox: netns.Path()}
	result.Interfaces = append(result.Interfaces, iface)
	if conf.IPAMType == "" {
		return result, nil // L2 only
	}
	own, err := execIPAM(conf, u)
	if err != nil {
		return nil, err
	}
	if err := fault.Point(fault.IPAM); err != nil {
		return nil, cnierr.Internal("fault", err)
	}
	// ConfigureIface wants a result that describes only this interface.
	own.Interfaces = []*current.Interface{iface}
	for _, ipc := range own.IPs {
		ipc.Interface = current.Int(0)
	}
	err = netns.Do(func(ns.NetNS) error { return ipam.ConfigureIface(iface.Name, own) })
	if err != nil {
		return nil, cnierr.Internal("configure the IPAM addresses on "+iface.Name, err)
	}
	if err := fault.Point(fault.Configured); err != nil {
		return nil, cnierr.Internal("fault", err)
	}
	for _, ipc := range own.IPs {
		ipc.Interface = current.Int(len(result.Interfaces) - 1)
	}
	result.IPs = append(result.IPs, own.IPs...)
	result.Routes = append(result.Routes, own.Routes...)
	result.DNS = mergeDNS(result.DNS, own.DNS)
	return result, nil
}

// mergeDNS keeps what earlier plugins reported and adds what IPAM reports.
func mergeDNS(prev, own types.DNS) types.DNS {
	if prev.Domain == "" {
		prev.Domain = own.Domain
	}
	prev.Nameservers = appendNew(prev.Nameservers, own.Nameservers)
	prev.Search = appendNew(prev.Search, own.Search)
	prev.Options = appendNew(prev.Options, own.Options)
	return prev
}

func appendNew(list, more []string) []string {
	for _, m := range more {
		if !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

func execIPAM(conf *config.Config, u *undo.Stack) (*current.Result, error) {
	r, err := ipam.ExecAdd(conf.IPAMType, conf.Raw)
	if err != nil {
		return nil, err // the IPAM plugin's own error and code
	}
	u.Push("release the IPAM allocation", func() error { return ipam.ExecDel(conf.IPAMType, conf.Raw) })
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return nil, cnierr.Internal("convert the IPAM result", err)
	}
	if len(res.IPs) == 0 {
		return nil, cnierr.Internal("IPAM", errors.New("plugin "+conf.IPAMType+" returned no IP address"))
	}
	return res, nil
}

// baseResult starts from prevResult when chained, so what earlier plugins
// reported is preserved.
func baseResult(conf *config.Config) (*current.Result, error) {
	if conf.PrevResult == nil {
		return &current.Result{CNIVersion: current.ImplementedSpecVersion}, nil
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return nil, cnierr.InvalidConfig("prevResult", "cannot be converted: %v", err)
	}
	return prev, nil
}

// withUndo reports a failed rollback next to the error that caused it.
func withUndo(err, undoErr error) error {
	if err == nil || undoErr == nil {
		return err
	}
	e := cnierr.AsCNI("add", err)
	return &types.Error{Code: e.Code, Msg: e.Msg, Details: e.Details + "; rollback also failed: " + undoErr.Error()}
}
