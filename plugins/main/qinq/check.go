package main

import (
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// cmdCheck verifies the links, then asks IPAM, then compares the addresses and
// routes in the container with prevResult.
func cmdCheck(args *skel.CmdArgs) error {
	inv, err := load(args)
	if err != nil {
		return err
	}
	if inv.conf.PrevResult == nil {
		return cnierr.InvalidConfig("prevResult", "required for CHECK: the result of the ADD being checked")
	}
	if inv.conf.Mode == config.ModeOVS {
		return checkOVS(inv, args)
	}
	ends, req, err := inv.open(false)
	var cniErr *types.Error
	if errors.As(err, &cniErr) && cniErr.Code == types.ErrInvalidNetworkConfig {
		// The config parsed; what no longer fits is the node (master gone,
		// its MTU lowered): that is a difference CHECK reports.
		return cnierr.CheckFailed("%s", cniErr.Msg)
	}
	if err != nil {
		return err
	}
	defer ends.Close()
	if err := inv.backend.Check(req); err != nil {
		return err
	}
	if inv.conf.IPAMType != "" {
		if err := ipam.ExecCheck(inv.conf.IPAMType, inv.conf.Raw); err != nil {
			return err
		}
	}
	return checkAddresses(inv.conf.PrevResult, args.IfName, ends.ContainerNS)
}

// checkAddresses compares the IPs prevResult gave ifName, and its routes, with
// what the container has.
func checkAddresses(prev types.Result, ifName string, netns ns.NetNS) error {
	result, err := current.NewResultFromResult(prev)
	if err != nil {
		return cnierr.InvalidConfig("prevResult", "cannot be converted: %v", err)
	}
	var ips []*current.IPConfig
	for _, ipc := range result.IPs {
		if i := ipc.Interface; i != nil && *i >= 0 && *i < len(result.Interfaces) && result.Interfaces[*i].Name == ifName {
			ips = append(ips, ipc)
		}
	}
	return netns.Do(func(ns.NetNS) error {
		if err := ip.ValidateExpectedInterfaceIPs(ifName, ips); err != nil {
			return cnierr.CheckFailed("%s: %v", ifName, err)
		}
		if err := ip.ValidateExpectedRoute(result.Routes); err != nil {
			return cnierr.CheckFailed("%s: %v", ifName, err)
		}
		return nil
	})
}
