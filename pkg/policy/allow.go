package policy

import (
	"errors"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// UserNamespaceCheck answers for the pod being attached: nil when its
// network namespace is owned by a user namespace strictly below qinq's,
// otherwise why not (pkg/userns.Below on CNI_NETNS). A nil check is "cannot
// be read".
type UserNamespaceCheck func() error

// Allow decides whether the caller named by cniArgs may have what c asks
// for; c holds the final values (per-pod VLANs from cni-args applied), and
// userNS is asked only when the entry requires a user namespace. It
// returns the policy entry that decided ("namespaces.tenant-a",
// "noNamespace"), and, for a refusal, code 102 naming the rule. It reads only
// the caller's own entry: no message names another tenant.
func (p *Policy) Allow(cniArgs string, c *config.Config, userNS UserNamespaceCheck) (entry string, err error) {
	k8sNS, named, err := K8sNamespace(cniArgs)
	if err != nil {
		return "namespace", err
	}
	raw, entry := p.noNamespace, "noNamespace"
	if named {
		raw, entry = p.k8sNamespaces[k8sNS], "namespaces."+k8sNS
	}
	if raw == nil {
		if named {
			return entry, cnierr.PolicyRefused(entry, "Kubernetes namespace %q has no entry in %s", k8sNS, Path())
		}
		return entry, cnierr.PolicyRefused(entry, "callers that name no %s in CNI_ARGS have no entry in %s", K8sNamespaceKey, Path())
	}
	g, err := p.entry(entry, raw)
	if err != nil {
		// The admin's mistake in this entry: nothing of it is granted.
		return entry, cnierr.PolicyRefused(entry, "the entry in %s is invalid, so it grants nothing: %v", Path(), err)
	}
	if err := g.allow(entry, c); err != nil {
		return entry, err
	}
	return entry, g.allowUserNamespace(entry, userNS)
}

// allow checks each grant in turn; the first it lacks refuses.
func (g *grant) allow(entry string, c *config.Config) error {
	for _, check := range []func(string, *config.Config) error{g.allowWhere, g.allowSVlan, g.allowCVlans, g.allowLink, g.allowMAC, g.allowL2ProtocolTunnel} {
		if err := check(entry, c); err != nil {
			return err
		}
	}
	return nil
}

// allowWhere: the master (kernel mode), the bridge (OVS standalone), or the
// grants for a master inside the container and for chained OVS ports.
func (g *grant) allowWhere(entry string, c *config.Config) error {
	switch {
	case c.Backend == config.BackendOVS && c.Chained():
		return refuseUnless(g.chainedOVS, entry+".chainedOvs", "chained Open vSwitch mode (no bridge) is not granted")
	case c.Backend == config.BackendOVS:
		return refuseUnless(g.bridges[c.Bridge], entry+".bridges", "Open vSwitch bridge %q is not granted", c.Bridge)
	case c.LinkInContainer:
		return refuseUnless(g.linkInContainer, entry+".linkInContainer", "a master inside the container (linkInContainer) is not granted")
	}
	granted := g.masters[c.Master]
	for _, alt := range c.MasterAltNames {
		granted = granted || g.masters[alt]
	}
	return refuseUnless(granted, entry+".masters", "master %q is not granted", c.Master)
}

func (g *grant) allowSVlan(entry string, c *config.Config) error {
	if !g.sProtos[c.SProto] {
		return cnierr.PolicyRefused(entry+".sProtos", "sProto %q is not granted", config.ProtoName(c.SProto))
	}
	return refuseUnless(g.sVlans.Allows(c.SVlan), entry+".sVlans", "S-VLAN %d is outside the granted %s", c.SVlan, g.sVlans)
}

// allowCVlans: every C-VLAN granted; tunnel mode hands the pod every C-VLAN
// of its S-VLAN, so it needs its own grant, unless OVS's allowedCVlans
// narrow it to granted C-VLANs.
func (g *grant) allowCVlans(entry string, c *config.Config) error {
	vids := c.CVlans
	if c.TunnelMode() {
		if g.tunnelMode {
			return nil
		}
		if c.Backend != config.BackendOVS || len(c.AllowedCVlans) == 0 {
			return cnierr.PolicyRefused(entry+".tunnelMode", "tunnel mode (no cVlans: every C-VLAN of S-VLAN %d) is not granted", c.SVlan)
		}
		vids = c.AllowedCVlans
	}
	for _, v := range vids {
		if !g.cVlans.Allows(v) {
			return cnierr.PolicyRefused(entry+".cVlans", "C-VLAN %d is outside the granted %s", v, g.cVlans)
		}
	}
	return nil
}

func (g *grant) allowLink(entry string, c *config.Config) error {
	if c.Backend == config.BackendOVS {
		return nil // the container gets a veth behind the port: bridges decides
	}
	// A grant of vlan covers bridge, the default since: the same (S, C),
	// with no VLAN device in the pod (policies written before it stay valid).
	granted := g.links[c.ContainerLink] || (c.ContainerLink == config.LinkBridge && g.links[config.LinkVLAN])
	return refuseUnless(granted, entry+".containerLinks", "containerLink %q is not granted", string(c.ContainerLink))
}

func (g *grant) allowMAC(entry string, c *config.Config) error {
	return refuseUnless(c.MAC == nil || g.mac, entry+".mac", "choosing the container's MAC (mac, runtimeConfig.mac) is not granted")
}

// allowUserNamespace: with "required", the pod's netns must be owned by a
// user namespace of its own; whatever cannot be read refuses (fail closed).
func (g *grant) allowUserNamespace(entry string, userNS UserNamespaceCheck) error {
	if !g.userNamespace {
		return nil
	}
	err := errors.New("the owner of CNI_NETNS cannot be read")
	if userNS != nil {
		err = userNS()
	}
	if err == nil {
		return nil
	}
	return cnierr.PolicyRefused(entry+".userNamespace", "the pod's network namespace must be owned by a user namespace of its own (Kubernetes hostUsers: false); %v", err)
}

// allowL2ProtocolTunnel: reserved 802.1 frames leave the node only where the
// admin grants it (a switch with BPDU guard shuts the node's port on one).
func (g *grant) allowL2ProtocolTunnel(entry string, c *config.Config) error {
	return refuseUnless(!c.L2ProtocolTunnel || g.l2ProtocolTunnel, entry+".l2ProtocolTunnel",
		"l2ProtocolTunnel (reserved 802.1 frames such as STP, LACP and LLDP leaving the node) is not granted")
}

func refuseUnless(ok bool, rule, format string, a ...any) error {
	if ok {
		return nil
	}
	return cnierr.PolicyRefused(rule, format, a...)
}
