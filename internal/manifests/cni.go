package manifests

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"

	"github.com/qinq-cni/qinq/pkg/config"
)

// plugin is one plugin's configuration as a runtime hands it over: for a
// conflist, with the list's name and cniVersion filled in, as libcni does.
type plugin map[string]any

func (p plugin) typ() string { s, _ := p["type"].(string); return s }

func (p plugin) capability(c string) bool {
	caps, _ := p["capabilities"].(map[string]any)
	v, _ := caps[c].(bool)
	return v
}

// plugins loads a conf or a conflist with libcni, the loader runtimes and
// Multus use.
func plugins(conf []byte) (string, []plugin, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(conf, &probe); err != nil {
		return "", nil, fmt.Errorf("CNI config is not a JSON object: %w", err)
	}
	if _, isList := probe["plugins"]; !isList {
		c, err := libcni.NetworkPluginConfFromBytes(conf)
		if err != nil {
			return "", nil, err
		}
		p, err := decodePlugin(c.Bytes, "", "")
		return c.Network.Name, []plugin{p}, err
	}
	list, err := libcni.NetworkConfFromBytes(conf)
	if err != nil {
		return "", nil, err
	}
	if len(list.Plugins) == 0 {
		return "", nil, fmt.Errorf("conflist %q has no plugins", list.Name)
	}
	var out []plugin
	for _, c := range list.Plugins {
		p, err := decodePlugin(c.Bytes, list.Name, list.CNIVersion)
		if err != nil {
			return "", nil, err
		}
		out = append(out, p)
	}
	return list.Name, out, nil
}

func decodePlugin(b []byte, name, version string) (plugin, error) {
	p := plugin{}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	if name != "" {
		p["name"], p["cniVersion"] = name, version
	}
	if p.typ() == "" {
		return nil, fmt.Errorf("a plugin without \"type\"")
	}
	return p, nil
}

// checkPlugin runs a qinq plugin's configuration through qinq's own
// validation, after the key check that Parse (which ignores unknown keys)
// does not do. cniArgs, when not nil, is a pod's cni-args, put where Multus
// puts them (args.cni). Other plugins are their projects' business.
func checkPlugin(p plugin, cniArgs map[string]any) error {
	if p.typ() != "qinq" {
		return nil
	}
	if err := checkKeys(p); err != nil {
		return err
	}
	if cniArgs != nil {
		q := plugin{}
		for k, v := range p {
			q[k] = v
		}
		q["args"] = map[string]any{"cni": cniArgs}
		p = q
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := config.Parse(b, ""); err != nil {
		return fmt.Errorf("qinq refuses it: %w", err)
	}
	return nil
}

func checkKeys(p plugin) error {
	known := config.Keys()
	var bad []string
	for k := range p {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	var all []string
	for k := range known {
		all = append(all, k)
	}
	sort.Strings(all)
	return fmt.Errorf("unknown qinq key(s) %s (qinq would ignore them); known keys: %s", strings.Join(bad, ", "), strings.Join(all, ", "))
}

// checkRequest checks one pod's request against the network it names.
func checkRequest(n *Network, want nadv1.NetworkSelectionElement) error {
	_, ps, err := plugins(n.Config)
	if err != nil {
		return err
	}
	var cniArgs map[string]any
	if want.CNIArgs != nil {
		cniArgs = *want.CNIArgs
	}
	for _, p := range ps {
		if err := checkPlugin(p, cniArgs); err != nil {
			return fmt.Errorf("with the pod's cni-args %v: %w", cniArgs, err)
		}
	}
	if want.MacRequest != "" {
		if _, err := net.ParseMAC(want.MacRequest); err != nil {
			return fmt.Errorf("mac %q: %w", want.MacRequest, err)
		}
		if !anyCapability(ps, "mac") {
			return fmt.Errorf("the pod asks for mac %s but no plugin of the network declares \"capabilities\": {\"mac\": true}: Multus would drop it", want.MacRequest)
		}
	}
	for _, ip := range want.IPRequest {
		if _, _, err := net.ParseCIDR(ip); err != nil {
			return fmt.Errorf("ips: %q is not an address/prefix: %w", ip, err)
		}
	}
	if len(want.IPRequest) > 0 && !anyCapability(ps, "ips") {
		return fmt.Errorf("the pod asks for ips %v but no plugin of the network declares \"capabilities\": {\"ips\": true}: Multus would drop them", want.IPRequest)
	}
	return nil
}

func anyCapability(ps []plugin, c string) bool {
	for _, p := range ps {
		if p.capability(c) {
			return true
		}
	}
	return false
}
