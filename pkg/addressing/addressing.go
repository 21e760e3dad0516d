// Package addressing is the IP side of every verb, whatever the backend:
// the result built on prevResult, the IPAM plugin's addresses configured on
// the container link, their release, and CHECK's comparison of the
// container's addresses and routes with prevResult.
package addressing

import (
	"context"
	"errors"
	"path/filepath"
	"slices"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// Add builds the result: prevResult, the container interface the
// backend made, the addresses the IPAM plugin (if any) hands out, configured
// on it, then the host-side interfaces.
func Add(conf *config.Config, attached backend.Attached, u *undo.Stack) (*current.Result, error) {
	result, err := Base(conf)
	if err != nil || attached.Container == nil {
		return result, err // chained: the earlier plugin's result, unchanged
	}
	result.Interfaces = append(result.Interfaces, attached.Container)
	if conf.IPAMType != "" {
		if err := addAddresses(conf, result, u); err != nil {
			return nil, err
		}
	}
	result.Interfaces = append(result.Interfaces, attached.Host...)
	return result, nil
}

// addAddresses asks IPAM for addresses, configures them on the container
// interface (the result's last) and adds them to the result.
func addAddresses(conf *config.Config, result *current.Result, u *undo.Stack) error {
	own, err := execIPAM(conf, u)
	if err != nil {
		return err
	}
	if err := fault.Point(fault.IPAM); err != nil {
		return err
	}
	index := len(result.Interfaces) - 1
	if err := configure(result.Interfaces[index], own); err != nil {
		return err
	}
	if err := fault.Point(fault.Configured); err != nil {
		return err
	}
	for _, ipc := range own.IPs {
		ipc.Interface = current.Int(index)
	}
	result.IPs = append(result.IPs, own.IPs...)
	result.Routes = append(result.Routes, own.Routes...)
	result.DNS = mergeDNS(result.DNS, own.DNS)
	return nil
}

// configure puts IPAM's addresses and routes on the container interface.
func configure(iface *current.Interface, own *current.Result) error {
	// ConfigureIface wants a result that describes only this interface.
	own.Interfaces = []*current.Interface{iface}
	for _, ipc := range own.IPs {
		ipc.Interface = current.Int(0)
	}
	err := ns.WithNetNSPath(iface.Sandbox, func(ns.NetNS) error { return ipam.ConfigureIface(iface.Name, own) })
	if err != nil {
		return cnierr.Internal("configure the IPAM addresses on "+iface.Name, err)
	}
	return nil
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

// Base starts from prevResult when chained, so what earlier plugins
// reported is preserved.
func Base(conf *config.Config) (*current.Result, error) {
	if conf.PrevResult == nil {
		return &current.Result{CNIVersion: current.ImplementedSpecVersion}, nil
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return nil, cnierr.InvalidConfig("prevResult", "cannot be converted: %v", err)
	}
	return prev, nil
}

// ReleaseFor runs IPAM DEL for an attachment GC detached: many IPAM
// plugins, host-local among them, implement no GC and would leak it.
func ReleaseFor(conf *config.Config, cniPath string, a plan.Attachment) error {
	if conf.IPAMType == "" {
		return nil
	}
	plugin, err := invoke.FindInPath(conf.IPAMType, filepath.SplitList(cniPath))
	if err != nil {
		return cnierr.InvalidConfig("ipam.type", "%q: no such IPAM plugin in CNI_PATH %q", conf.IPAMType, cniPath)
	}
	args := &invoke.Args{Command: "DEL", ContainerID: a.ContainerID, IfName: a.IfName, NetNS: a.Netns, Path: cniPath}
	err = invoke.ExecPluginWithoutResult(context.Background(), plugin, conf.Raw, args, nil)
	return cnierr.AsCNI("release the IPAM allocation", err)
}

// Check compares the IPs prevResult gave ifName, and its routes,
// with what the container has.
func Check(prev types.Result, ifName, netns string) error {
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
	err = ns.WithNetNSPath(netns, func(ns.NetNS) error {
		if err := ip.ValidateExpectedInterfaceIPs(ifName, ips); err != nil {
			return cnierr.CheckFailed("%s: %v", ifName, err)
		}
		if err := ip.ValidateExpectedRoute(result.Routes); err != nil {
			return cnierr.CheckFailed("%s: %v", ifName, err)
		}
		return nil
	})
	return cnierr.AsCNI("check the addresses", err)
}
