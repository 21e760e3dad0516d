// Package config parses and validates a qinq network configuration once,
// into typed values. Every mistake is a CNI error with code 7 that names the
// key, the value found and the values allowed.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// VID is an 802.1Q/802.1ad VLAN ID, 1-4094 once validated.
type VID uint16

// Limits from 802.1Q: 0 means "priority tag only" and 4095 is reserved.
const (
	MinVID = 1
	MaxVID = 4094
	// MinMTU is the IPv4 minimum link MTU (RFC 791).
	MinMTU = 68
	// MaxCVlans bounds the stack depth: every tag costs 4 bytes of MTU, and
	// nobody runs more than QinQinQinQ.
	MaxCVlans = 4
)

// Backend is what builds the attachments: the "mode" key.
type Backend string

const (
	// BackendKernel stacks kernel VLAN links on a parent NIC (the default).
	BackendKernel Backend = "kernel"
	// BackendOVS puts the container behind an Open vSwitch dot1q-tunnel port.
	BackendOVS Backend = "ovs"
)

// DefaultOVSDBSocket is where Debian's and most distributions' ovsdb-server listens.
const DefaultOVSDBSocket = "unix:/var/run/openvswitch/db.sock"

// Config is a validated network configuration.
type Config struct {
	CNIVersion string
	Name       string
	// Backend is the "mode" key: kernel links or an Open vSwitch port.
	Backend Backend
	// OVS mode: Bridge is the bridge to add the port to; empty means chained
	// (the port comes from prevResult).
	Bridge      string
	OVSDBSocket string
	// AllowedCVlans filters the C-VLANs the container may send (OVS cvlans;
	// in kernel mode the VLAN filter of a tunnel-mode bridge).
	AllowedCVlans []VID
	// Master is the parent NIC the S-link is stacked on: as the config names
	// it until the verb resolves it to the kernel's own name for the link
	// (an altname names the same NIC), which keys, locks and records use.
	Master string
	// MasterAltNames are the resolved master's altnames (the policy's
	// masters match any of them); nil until resolved.
	MasterAltNames []string
	// SVlan and SProto make the outer (service) tag.
	SVlan  VID
	SProto netlink.VlanProtocol
	// CVlans are the inner 802.1Q tags, outermost first. Empty = tunnel mode.
	CVlans []VID
	// MTU of the innermost link; 0 means "computed by the MTU rule".
	MTU int
	// LinkInContainer: Master lives in the container netns.
	LinkInContainer bool
	// L2ProtocolTunnel (tunnel mode only): the pods' reserved 802.1 frames
	// (01:80:c2:00:00:0x: STP, LACP, LLDP...) leave in the S-VLAN, pause
	// (…01) excepted; without it none leaves.
	L2ProtocolTunnel bool
	// MAC of the container link (runtimeConfig.mac, else the mac key); nil
	// means kernel-chosen.
	MAC net.HardwareAddr
	// ContainerLink is the kind of link the container gets: "vlan" (the
	// innermost VLAN link itself), or a "macvlan" / "ipvlan" / "bridge" port
	// on the innermost VLAN link, which then stays beside the master, shared.
	ContainerLink ContainerLink
	// ContainerLinkChosen: the config names containerLink; without it the
	// default applies, and a pod recorded with an earlier default's kind
	// still matches its config.
	ContainerLinkChosen bool
	// ContainerLinkMode is the macvlan or ipvlan mode ("" for vlan).
	ContainerLinkMode string
	// DisableContainerInterface: the bridge link's container end is made
	// down and left down (KubeVirt brings it up when a migrating VM lands:
	// a link up earlier sends from the VM's MAC and moves it on the wire).
	DisableContainerInterface bool
	// OverrideSVlans and OverrideCVlans are the allow-lists for per-pod
	// values (args.cni, CNI_ARGS); empty = no per-pod value accepted.
	OverrideSVlans AllowList
	OverrideCVlans AllowList
	// LogFile receives one JSON line per invocation; "" = no log.
	LogFile  string
	LogLevel slog.Level
	// IPAMType is the IPAM plugin to delegate to; "" means L2 only.
	IPAMType string
	// PrevResult is the previous plugin's (or the cached ADD) result, if any.
	PrevResult types.Result
	// Raw is the configuration as received, handed to IPAM unchanged.
	Raw []byte

	macKey string // which key MAC came from, for messages
}

// Chained reports whether OVS mode reconfigures a port an earlier plugin made.
func (c *Config) Chained() bool { return c.Backend == BackendOVS && c.Bridge == "" }

// TunnelMode reports whether the container owns the S-link and tags its own
// VLANs (cVlans empty).
func (c *Config) TunnelMode() bool { return len(c.CVlans) == 0 }

// rawConfig is the JSON shape. Pointers tell "absent" from "zero".
type rawConfig struct {
	types.NetConf
	Master          string `json:"master"`
	SVlan           *int   `json:"sVlan"`
	SProto          string `json:"sProto"`
	CVlans          []int  `json:"cVlans"`
	MTU             *int   `json:"mtu"`
	LinkInContainer bool   `json:"linkInContainer"`
	L2ProtoTunnel   bool   `json:"l2ProtocolTunnel"`
	MAC             string `json:"mac"`
	// envMAC is CNI_ARGS MAC (not JSON): the reference plugins' per-pod MAC.
	envMAC        string
	ContainerLink string `json:"containerLink"`
	LinkMode      string `json:"containerLinkMode"`
	// DisableContainerInterface is the reference bridge plugin's key.
	DisableContainerInterface bool `json:"disableContainerInterface"`
	RuntimeConfig             struct {
		MAC string `json:"mac"`
	} `json:"runtimeConfig"`
	Mode           string   `json:"mode"`
	Bridge         string   `json:"bridge"`
	OVSDBSocket    string   `json:"ovsdbSocket"`
	AllowedCVlans  []int    `json:"allowedCVlans"`
	OverrideSVlans []string `json:"overrideSVlans"`
	OverrideCVlans []string `json:"overrideCVlans"`
	LogFile        string   `json:"logFile"`
	LogLevel       string   `json:"logLevel"`
}

// expected describes, per key, the JSON type and values a key allows; it
// turns a json type error into a message a user can act on.
var expected = map[string]string{
	"cniVersion":                "a version string such as \"1.0.0\"",
	"name":                      "a string",
	"type":                      "the string \"qinq\"",
	"master":                    "an interface name string",
	"sVlan":                     "an integer 1-4094",
	"sProto":                    "\"802.1ad\" or \"802.1Q\"",
	"cVlans":                    "a list of integers 1-4094",
	"mtu":                       "an integer, at least 68",
	"linkInContainer":           "true or false",
	"l2ProtocolTunnel":          "true or false",
	"mac":                       "a MAC address string",
	"containerLink":             `"bridge", "vlan", "macvlan" or "ipvlan"`,
	"containerLinkMode":         `for macvlan "bridge", "private" or "vepa"; for ipvlan "l2", "l3" or "l3s"`,
	"disableContainerInterface": "true or false",
	"ipam":                      "an object",
	"prevResult":                "a CNI result object",
	"dns":                       "an object",
	"runtimeConfig":             "an object",
	"mode":                      "\"kernel\" or \"ovs\"",
	"bridge":                    "an Open vSwitch bridge name string",
	"ovsdbSocket":               "a string such as \"unix:/var/run/openvswitch/db.sock\" or \"tcp:127.0.0.1:6640\"",
	"allowedCVlans":             "a list of integers 1-4094",
	"overrideSVlans":            "a list of strings such as [\"100-199\",\"300\"]",
	"overrideCVlans":            "a list of strings such as [\"100-199\",\"300\"]",
	"logFile":                   "an absolute file path string",
	"logLevel":                  "\"debug\", \"info\", \"warn\" or \"error\"",
	"args":                      "an object",
}

// Parse decodes and validates stdin, then applies the per-pod VLANs from
// args.cni or cniArgs (CNI_ARGS) within the config's allow-lists. It checks
// everything that does not need the kernel; limits that depend on the parent
// link (mtu) are checked by the planner.
func Parse(stdin []byte, cniArgs string) (*Config, error) {
	raw, err := decode(stdin)
	if err != nil {
		return nil, err
	}
	c := &Config{
		CNIVersion:      raw.CNIVersion,
		Name:            raw.Name,
		Master:          raw.Master,
		Bridge:          raw.Bridge,
		OVSDBSocket:     raw.OVSDBSocket,
		LinkInContainer: raw.LinkInContainer,
		IPAMType:        raw.IPAM.Type,
		Raw:             stdin,
	}
	if c.CNIVersion == "" {
		c.CNIVersion = "0.1.0" // the spec's default for a missing cniVersion
	}
	if raw.envMAC, err = readEnvMAC(cniArgs); err != nil {
		return nil, err
	}
	if err := c.fill(raw); err != nil {
		return nil, err
	}
	if err := c.fillOverrides(stdin, cniArgs); err != nil {
		return nil, err
	}
	if err := c.fillL2ProtocolTunnel(raw); err != nil {
		return nil, err
	}
	if err := c.fillOVS(raw); err != nil {
		return nil, err
	}
	return c, c.checkResultExpressible()
}

// checkResultExpressible refuses, before anything is built, an L2-only
// attachment at a version whose results cannot describe one: 0.1.0 and 0.2.0
// results are made of IP addresses.
func (c *Config) checkResultExpressible() error {
	old := c.CNIVersion == "0.1.0" || c.CNIVersion == "0.2.0"
	if old && c.IPAMType == "" && !c.Chained() {
		return cnierr.InvalidConfig("ipam", "required at cniVersion %s: results of 0.1.0 and 0.2.0 cannot describe an interface without an IP address (use 0.3.0 or later for L2 only)", c.CNIVersion)
	}
	return nil
}

func decode(stdin []byte) (*rawConfig, error) {
	raw := &rawConfig{}
	err := json.Unmarshal(stdin, raw)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &typeErr) && typeErr.Field != "":
		// Keys of the embedded types.NetConf come as "NetConf.ipam".
		key := strings.TrimPrefix(typeErr.Field, "NetConf.")
		top, _, _ := strings.Cut(key, ".")
		return nil, cnierr.InvalidConfig(key, "must be %s, got a JSON %s", describe(top), typeErr.Value)
	default:
		return nil, cnierr.Decode(err)
	}
	if raw.IPAM.Type == "" {
		if err := ipamTypeMissing(stdin); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

func describe(key string) string {
	if d, ok := expected[key]; ok {
		return d
	}
	return "a value of another JSON type"
}

func (c *Config) fill(raw *rawConfig) error {
	steps := []func(*rawConfig) error{
		c.fillVersion, c.fillType, c.fillBackend, c.fillMaster, c.fillSVlan, c.fillSProto,
		c.fillCVlans, c.fillAllowLists, c.fillMTU, c.fillMAC, c.fillContainerLink, c.fillPrevResult, c.fillLog,
	}
	for _, step := range steps {
		if err := step(raw); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) fillVersion(*rawConfig) error {
	// Unknown versions are the spec's code 1, reported by skel before we run;
	// here only a malformed string can remain.
	if _, _, _, err := version.ParseVersion(c.CNIVersion); err != nil {
		return cnierr.InvalidConfig("cniVersion", "%q is not a version, must be %s", c.CNIVersion, expected["cniVersion"])
	}
	return nil
}

func (c *Config) fillType(raw *rawConfig) error {
	if raw.Type != "" && raw.Type != "qinq" {
		return cnierr.InvalidConfig("type", "%q: must be \"qinq\"", raw.Type)
	}
	return nil
}

func (c *Config) fillBackend(raw *rawConfig) error {
	switch strings.ToLower(raw.Mode) {
	case "", "kernel":
		c.Backend = BackendKernel
	case "ovs":
		c.Backend = BackendOVS
	default:
		return InvalidValue("mode", raw.Mode)
	}
	return nil
}

func (c *Config) fillMaster(*rawConfig) error {
	if c.Backend == BackendOVS {
		if c.Master != "" {
			return cnierr.InvalidConfig("master", "%q: not used in mode \"ovs\" (the port goes on bridge)", c.Master)
		}
		return nil
	}
	if c.Master == "" {
		return cnierr.InvalidConfig("master", "required: the parent interface name, e.g. \"eth0\"")
	}
	if err := checkIfName(c.Master); err != nil {
		return cnierr.InvalidConfig("master", "%q: %v", c.Master, err)
	}
	return nil
}

func (c *Config) fillSVlan(raw *rawConfig) error {
	if raw.SVlan == nil {
		return cnierr.InvalidConfig("sVlan", "required: the outer S-VLAN ID, an integer 1-4094")
	}
	vid, err := toVID("sVlan", *raw.SVlan)
	c.SVlan = vid
	return err
}

func (c *Config) fillSProto(raw *rawConfig) error {
	p, err := ParseProto(raw.SProto)
	if err != nil {
		return cnierr.InvalidConfig("sProto", "%v", err)
	}
	c.SProto = p
	return nil
}

func (c *Config) fillCVlans(raw *rawConfig) error {
	for i, id := range raw.CVlans {
		vid, err := toVID(fmt.Sprintf("cVlans[%d]", i), id)
		if err != nil {
			return err
		}
		c.CVlans = append(c.CVlans, vid)
	}
	return checkCVlans(c.CVlans)
}

// checkCVlans bounds the stack depth and refuses a repeated C-VLAN.
func checkCVlans(vids []VID) error {
	if len(vids) > MaxCVlans {
		return cnierr.InvalidConfig("cVlans", "%d tags given, at most %d allowed", len(vids), MaxCVlans)
	}
	seen := map[VID]int{}
	for i, vid := range vids {
		if j, dup := seen[vid]; dup {
			return cnierr.InvalidConfig("cVlans", "%d appears at [%d] and [%d]: each C-VLAN of a stack must be distinct", vid, j, i)
		}
		seen[vid] = i
	}
	return nil
}

func (c *Config) fillAllowLists(raw *rawConfig) (err error) {
	if c.OverrideSVlans, err = ParseAllowList("overrideSVlans", raw.OverrideSVlans); err != nil {
		return err
	}
	c.OverrideCVlans, err = ParseAllowList("overrideCVlans", raw.OverrideCVlans)
	return err
}

func (c *Config) fillOverrides(stdin []byte, cniArgs string) error {
	if err := refuseNetworkKeysInArgs(stdin); err != nil {
		return err
	}
	pods, err := readPodValues(stdin, cniArgs)
	if err != nil {
		return err
	}
	for _, pv := range pods {
		if err := c.applyOverride(pv); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) fillLog(raw *rawConfig) error {
	if raw.LogFile != "" && !filepath.IsAbs(raw.LogFile) {
		return cnierr.InvalidConfig("logFile", "%q: must be an absolute path", raw.LogFile)
	}
	c.LogFile = raw.LogFile
	if raw.LogLevel == "" {
		c.LogLevel = slog.LevelInfo
		return nil
	}
	if err := c.LogLevel.UnmarshalText([]byte(raw.LogLevel)); err != nil {
		return InvalidValue("logLevel", raw.LogLevel)
	}
	return nil
}

func (c *Config) fillMTU(raw *rawConfig) error {
	if raw.MTU == nil || *raw.MTU == 0 {
		return nil // 0 or absent: computed by the MTU rule
	}
	if *raw.MTU < MinMTU {
		return cnierr.InvalidConfig("mtu", "%d is below the minimum %d (0 or absent = computed from master)", *raw.MTU, MinMTU)
	}
	c.MTU = *raw.MTU
	return nil
}

func (c *Config) fillMAC(raw *rawConfig) error {
	key, value := "mac", raw.MAC
	if raw.envMAC != "" {
		// CNI_ARGS MAC, as the reference plugins read it: the pod's own,
		// over the network's key; the mac capability wins over both.
		key, value = "CNI_ARGS MAC", raw.envMAC
	}
	if raw.RuntimeConfig.MAC != "" {
		// The mac capability: the runtime (or Multus) asks for this pod's
		// MAC, which wins over the network's key.
		key, value = "runtimeConfig.mac", raw.RuntimeConfig.MAC
	}
	if value == "" {
		return nil
	}
	mac, err := net.ParseMAC(value)
	if err != nil || len(mac) != 6 || mac[0]&1 == 1 || allZero(mac) {
		return cnierr.InvalidConfig(key, "%q: must be a unicast Ethernet MAC such as \"02:00:5e:10:00:01\"", value)
	}
	c.MAC, c.macKey = mac, key
	return nil
}

func allZero(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return true
}

// fillL2ProtocolTunnel: only a tunnel-mode network owns its S-VLAN, and so
// may pass its pods' reserved frames to the customer's far end. Checked once
// the per-pod cVlans are applied.
func (c *Config) fillL2ProtocolTunnel(raw *rawConfig) error {
	if raw.L2ProtoTunnel && !c.TunnelMode() {
		return cnierr.InvalidConfig("l2ProtocolTunnel", "true is allowed only in tunnel mode (no cVlans): the pod then holds the whole S-VLAN %d; "+
			"with cVlans the S-VLAN is shared with other networks, whose switches must not see this pod's STP, LACP or LLDP", c.SVlan)
	}
	if raw.L2ProtoTunnel && c.Backend == BackendOVS {
		return cnierr.InvalidConfig("l2ProtocolTunnel", "true is allowed only in kernel mode: Open vSwitch drops reserved 802.1 frames on every port "+
			"unless the admin sets other_config:forward-bpdu on the whole bridge")
	}
	c.L2ProtocolTunnel = raw.L2ProtoTunnel
	return nil
}

func (c *Config) fillPrevResult(raw *rawConfig) error {
	if raw.RawPrevResult == nil {
		return nil
	}
	if err := version.ParsePrevResult(&raw.NetConf); err != nil {
		return cnierr.InvalidConfig("prevResult", "cannot be parsed at cniVersion %s: %v", c.CNIVersion, err)
	}
	c.PrevResult = raw.PrevResult
	return nil
}

// fillOVS validates the OVS-only keys, and refuses them in kernel mode so a
// typo in mode does not silently build something else.
func (c *Config) fillOVS(raw *rawConfig) error {
	if c.Backend != BackendOVS {
		ovsOnly := []struct {
			key string
			set bool
		}{{"bridge", raw.Bridge != ""}, {"ovsdbSocket", raw.OVSDBSocket != ""}}
		for _, k := range ovsOnly {
			if k.set {
				return cnierr.InvalidConfig(k.key, "only used with \"mode\": \"ovs\"")
			}
		}
		return c.fillKernelAllowedCVlans(raw)
	}
	if c.OVSDBSocket == "" {
		c.OVSDBSocket = DefaultOVSDBSocket
	}
	// ssl: would need certificate keys qinq does not have: refuse it rather
	// than fail every verb, DEL included, with code 50.
	if !strings.HasPrefix(c.OVSDBSocket, "unix:") && !strings.HasPrefix(c.OVSDBSocket, "tcp:") {
		return cnierr.InvalidConfig("ovsdbSocket", "%q: must start with unix: or tcp: (ssl: is not supported)", c.OVSDBSocket)
	}
	if c.Bridge != "" {
		if err := checkIfName(c.Bridge); err != nil {
			return cnierr.InvalidConfig("bridge", "%q: %v", c.Bridge, err)
		}
	}
	vids, err := allowedCVlans(raw.AllowedCVlans)
	if err != nil {
		return err
	}
	c.AllowedCVlans = vids
	if err := c.checkOVSStack(); err != nil {
		return err
	}
	if c.LinkInContainer {
		return cnierr.InvalidConfig("linkInContainer", "only used in kernel mode")
	}
	return nil
}

func allowedCVlans(ids []int) ([]VID, error) {
	var vids []VID
	for i, id := range ids {
		vid, err := toVID(fmt.Sprintf("allowedCVlans[%d]", i), id)
		if err != nil {
			return nil, err
		}
		vids = append(vids, vid)
	}
	return vids, nil
}

// checkOVSStack: what an OVS dot1q-tunnel port can carry, and who configures
// the addresses when qinq only reconfigures another plugin's port.
func (c *Config) checkOVSStack() error {
	if c.Chained() && len(c.CVlans) > 0 {
		return cnierr.InvalidConfig("cVlans", "must be empty in chained OVS mode (no bridge): the container sends its own C-VLANs; use allowedCVlans to filter them")
	}
	if c.Chained() && c.IPAMType != "" {
		return cnierr.InvalidConfig("ipam", "not used in chained OVS mode: the plugin that made the port configures the addresses")
	}
	if len(c.CVlans) > 1 {
		// Seen in the VM: OVS (Max VLAN headers: 2) drops a frame with two
		// C-tags on a dot1q-tunnel port, as it cannot push a third tag.
		return cnierr.InvalidConfig("cVlans", "%d tags given: in mode \"ovs\" at most 1 (OVS matches at most 2 VLAN headers, the S-tag and one C-tag)", len(c.CVlans))
	}
	return nil
}

func toVID(field string, id int) (VID, error) {
	if id < MinVID || id > MaxVID {
		return 0, cnierr.InvalidConfig(field, "%d: must be %d-%d (0 and 4095 are reserved by 802.1Q)", id, MinVID, MaxVID)
	}
	return VID(id), nil
}

// ParseProto maps an sProto value (case-insensitive) to a TPID. "" is 802.1ad.
func ParseProto(s string) (netlink.VlanProtocol, error) {
	switch strings.ToLower(s) {
	case "", "802.1ad":
		return netlink.VLAN_PROTOCOL_8021AD, nil
	case "802.1q":
		return netlink.VLAN_PROTOCOL_8021Q, nil
	}
	return 0, fmt.Errorf("%s: must be \"802.1ad\" (TPID 0x88a8, the default) or \"802.1Q\" (0x8100, Cisco-style); Linux cannot send 0x9100/0x9200", cnierr.Quote(s))
}

// ProtoName is the config spelling of a TPID.
func ProtoName(p netlink.VlanProtocol) string {
	if p == netlink.VLAN_PROTOCOL_8021Q {
		return "802.1Q"
	}
	return "802.1ad"
}

// checkIfName applies the kernel's rules for interface names.
func checkIfName(name string) error {
	switch {
	case len(name) > 15:
		return fmt.Errorf("%d characters, at most 15 allowed", len(name))
	case name == "." || name == "..":
		return errors.New("not a valid interface name")
	case strings.ContainsAny(name, "/: \t\n"):
		return errors.New("must not contain '/', ':' or white space")
	case strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return errors.New("must not contain control characters")
	}
	return nil
}

// ValidateIfName checks CNI_IFNAME the way the kernel will (code 4: it is a
// CNI_* variable, not network configuration).
func ValidateIfName(name string) error {
	if name == "" {
		return cnierr.InvalidEnv("CNI_IFNAME", "required")
	}
	if err := checkIfName(name); err != nil {
		return cnierr.InvalidEnv("CNI_IFNAME", "%q: %v", name, err)
	}
	return nil
}

// ipamTypeMissing refuses a non-empty ipam object without "type": that is a
// typo, not a request for L2 only.
func ipamTypeMissing(stdin []byte) error {
	var m struct {
		IPAM map[string]json.RawMessage `json:"ipam"`
	}
	if json.Unmarshal(stdin, &m) != nil || len(m.IPAM) == 0 {
		return nil
	}
	return cnierr.InvalidConfig("ipam.type", "required when ipam is given: the IPAM plugin, e.g. \"host-local\"")
}

// LogSettings reads logFile and logLevel leniently, so even an invocation
// whose config is refused can be logged. It never fails.
func LogSettings(stdin []byte) (file string, level slog.Level) {
	var raw struct {
		LogFile  string `json:"logFile"`
		LogLevel string `json:"logLevel"`
	}
	_ = json.Unmarshal(stdin, &raw)
	if level.UnmarshalText([]byte(raw.LogLevel)) != nil {
		level = slog.LevelInfo
	}
	if !filepath.IsAbs(raw.LogFile) {
		return "", level
	}
	return raw.LogFile, level
}
