// Package policy is the node admin's answer to "who may use which VLAN":
// /etc/cni/qinq/policy.json grants each Kubernetes namespace (the runtime's
// K8S_POD_NAMESPACE in CNI_ARGS) masters, S-VLAN and C-VLAN ranges, kinds of
// container link, tunnel mode, Open vSwitch bridges and its own MACs, and
// says whether its pods need a user namespace of their own. A
// network config is the tenant's; it can only narrow what the policy grants.
// No /etc/cni/qinq directory means no policy (every config is allowed, as
// before the policy existed); a directory without a valid policy.json
// allows nothing.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/node"
)

// File is policy.json's name in node.Dir().
const File = "policy.json"

// Path is where the policy is read from.
func Path() string { return filepath.Join(node.Dir(), File) }

// Policy is a policy.json whose top level is checked; an entry is parsed
// when a caller needs it (Allow), so an ADD costs one entry, not the file.
// Check parses every entry.
type Policy struct {
	k8sNamespaces map[string]json.RawMessage
	noNamespace   json.RawMessage
}

// grant is what one Kubernetes namespace (or the callers naming none) may use.
type grant struct {
	masters         map[string]bool
	sVlans, cVlans  config.AllowList
	sProtos         map[netlink.VlanProtocol]bool
	links           map[config.ContainerLink]bool
	tunnelMode      bool
	linkInContainer bool
	bridges         map[string]bool
	chainedOVS      bool
	mac             bool
	userNamespace   bool // required: the pod's netns is owned by a user namespace below qinq's
	// l2ProtocolTunnel: a tunnel-mode network may let its pods' reserved
	// 802.1 frames (STP, LACP, LLDP...) leave, pause excepted.
	l2ProtocolTunnel bool
}

// topKeys are policy.json's keys, spelt exactly.
var topKeys = map[string]bool{"version": true, "namespaces": true, "noNamespace": true}

// The JSON shape of an entry. No omitempty: node.DecodeStrict compares keys
// by re-encoding.
type grantJSON struct {
	Masters         []string `json:"masters"`
	SVlans          []string `json:"sVlans"`
	SProtos         []string `json:"sProtos"`
	CVlans          []string `json:"cVlans"`
	ContainerLinks  []string `json:"containerLinks"`
	TunnelMode      bool     `json:"tunnelMode"`
	LinkInContainer bool     `json:"linkInContainer"`
	Bridges         []string `json:"bridges"`
	ChainedOVS      bool     `json:"chainedOvs"`
	MAC             bool     `json:"mac"`
	UserNamespace   *string  `json:"userNamespace"`
	// L2ProtocolTunnel grants the network key of the same name.
	L2ProtocolTunnel bool `json:"l2ProtocolTunnel"`
}

// The values of userNamespace; absent is "any".
const (
	UserNamespaceRequired = "required"
	UserNamespaceAny      = "any"
)

// Load reads the node's policy. (nil, nil) means no policy: the directory
// /etc/cni/qinq does not exist. Any other problem is an error, and the verbs
// that build fail closed on it. A malformed entry is found when it is used
// (refusing that namespace's callers) or by Check.
func Load() (*Policy, error) {
	if !node.Present() {
		return nil, nil
	}
	path := Path()
	data, err := node.ReadTrusted(path, node.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing while %s exists: nothing is allowed until it is restored", path, node.Dir())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p, err := parseTop(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse decodes and checks a whole policy strictly.
func Parse(data []byte) (*Policy, error) {
	p, err := parseTop(data)
	if err != nil {
		return nil, err
	}
	return p, p.Check()
}

// Check parses every entry (STATUS, tests): the first error found.
func (p *Policy) Check() error {
	for k8sNS := range p.k8sNamespaces {
		if _, err := p.entry("namespaces."+k8sNS, p.k8sNamespaces[k8sNS]); err != nil {
			return err
		}
	}
	if p.noNamespace != nil {
		_, err := p.entry("noNamespace", p.noNamespace)
		return err
	}
	return nil
}

// parseTop checks the top level strictly: its keys, version, the
// namespaces' names. The entries stay raw (the decoder has checked their
// JSON syntax).
func parseTop(data []byte) (*Policy, error) {
	var top map[string]json.RawMessage // map keys are exact: no case folding
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	for k := range top {
		if !topKeys[k] {
			return nil, fmt.Errorf("json: unknown field %q", k)
		}
	}
	var version int
	if err := json.Unmarshal(top["version"], &version); err != nil || version != node.Version {
		return nil, fmt.Errorf("version: %s: must be %d", cut(top["version"]), node.Version)
	}
	p := &Policy{}
	if err := json.Unmarshal(top["namespaces"], &p.k8sNamespaces); top["namespaces"] != nil && err != nil {
		return nil, fmt.Errorf("namespaces: must be an object of entries: %w", err)
	}
	for k8sNS := range p.k8sNamespaces {
		if err := ValidK8sNamespace(k8sNS); err != nil {
			return nil, fmt.Errorf("namespaces: %q: %w", k8sNS, err)
		}
	}
	if raw := top["noNamespace"]; raw != nil && string(raw) != "null" {
		p.noNamespace = raw
	}
	return p, nil
}

func cut(raw json.RawMessage) string {
	if raw == nil {
		return "missing"
	}
	if len(raw) > 16 {
		return string(raw[:16]) + "…"
	}
	return string(raw)
}

// entry parses one entry strictly.
func (p *Policy) entry(at string, raw json.RawMessage) (*grant, error) {
	var g *grantJSON
	if err := node.DecodeStrict(raw, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", at, err)
	}
	return g.parse(at)
}

func (g *grantJSON) parse(at string) (*grant, error) {
	if g == nil {
		return nil, fmt.Errorf("%s: must be an object", at)
	}
	out := &grant{tunnelMode: g.TunnelMode, linkInContainer: g.LinkInContainer, chainedOVS: g.ChainedOVS, mac: g.MAC,
		l2ProtocolTunnel: g.L2ProtocolTunnel,
		masters:          set(g.Masters), bridges: set(g.Bridges), links: map[config.ContainerLink]bool{}, sProtos: map[netlink.VlanProtocol]bool{}}
	var err error
	if out.userNamespace, err = parseUserNamespace(at, g.UserNamespace); err != nil {
		return nil, err
	}
	if out.sVlans, err = config.ParseAllowList(at+".sVlans", g.SVlans); err != nil {
		return nil, err
	}
	if out.cVlans, err = config.ParseAllowList(at+".cVlans", g.CVlans); err != nil {
		return nil, err
	}
	for i, l := range g.ContainerLinks {
		switch k := config.ContainerLink(l); k {
		case config.LinkVLAN, config.LinkMacvlan, config.LinkIpvlan, config.LinkBridge:
			out.links[k] = true
		default:
			return nil, fmt.Errorf("%s.containerLinks[%d]: %q: must be \"bridge\", \"vlan\", \"macvlan\" or \"ipvlan\"", at, i, l)
		}
	}
	protos := g.SProtos
	if protos == nil {
		protos = []string{"802.1ad"} // the default TPID; Cisco-style 0x8100 must be granted
	}
	for i, s := range protos {
		p, err := config.ParseProto(s)
		if err != nil || s == "" {
			return nil, fmt.Errorf("%s.sProtos[%d]: %q: must be \"802.1ad\" or \"802.1Q\"", at, i, s)
		}
		out.sProtos[p] = true
	}
	return out, nil
}

// parseUserNamespace: "required" or "any"; absent (or null) is "any".
func parseUserNamespace(at string, v *string) (required bool, err error) {
	switch {
	case v == nil || *v == UserNamespaceAny:
		return false, nil
	case *v == UserNamespaceRequired:
		return true, nil
	}
	return false, fmt.Errorf("%s.userNamespace: %q: must be %q or %q (absent: %q)", at, *v, UserNamespaceRequired, UserNamespaceAny, UserNamespaceAny)
}

func set(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}
