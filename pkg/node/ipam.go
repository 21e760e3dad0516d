package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// A network config names the IPAM plugin root runs (ipam.type) and hands
// it the whole config: the keys below then name what that plugin writes,
// reads or connects to. node.json bounds both; these are its defaults.
var (
	// DefaultIPAMTypes are the plugins ipam.type may name: none of them
	// touches the node beyond its own store, file or daemon.
	DefaultIPAMTypes = []string{"host-local", "static", "whereabouts", "dhcp"}
	// DefaultIPAMDataDirs hold host-local's stores: its own default, and
	// the node's temporary directory (tests, demos), where anyone may write.
	DefaultIPAMDataDirs = []string{"/var/lib/cni/networks", "/tmp"}
	// DefaultIPAMFiles are the files and sockets IPAM keys may name: the
	// node's resolver files, the dhcp daemon's socket, and whereabouts'
	// own configuration and kubeconfig where its installer puts them.
	DefaultIPAMFiles = []string{
		"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf", "/run/systemd/resolve/stub-resolv.conf",
		"/run/cni/dhcp.sock",
		"/etc/cni/net.d/whereabouts.d/whereabouts.conf", "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig",
		"/etc/kubernetes/cni/net.d/whereabouts.d/whereabouts.conf", "/etc/kubernetes/cni/net.d/whereabouts.d/whereabouts.kubeconfig",
	}
)

// hostLocalDefaultDir is where host-local keeps its stores without dataDir.
const hostLocalDefaultDir = "/var/lib/cni/networks"

// IPAMBounds are node.json's bounds on a network config's ipam object.
type IPAMBounds struct {
	Types     []string // ipam.type
	DataDirs  []string // host-local's dataDir/<name>: inside one of these
	Files     []string // files and sockets IPAM may open, exactly
	Endpoints []string // servers IPAM may connect to, exactly
}

// DefaultIPAMBounds are the bounds without node.json, or for keys it omits.
func DefaultIPAMBounds() IPAMBounds {
	return IPAMBounds{Types: DefaultIPAMTypes, DataDirs: DefaultIPAMDataDirs, Files: DefaultIPAMFiles}
}

// ipamBounds is node.json's list for each key it gives, the default for
// each it omits (an empty list allows nothing).
func (f *settingsFile) ipamBounds() IPAMBounds {
	b := DefaultIPAMBounds()
	for _, o := range []struct{ given, bound *[]string }{
		{&f.IPAMTypes, &b.Types}, {&f.IPAMDataDirs, &b.DataDirs}, {&f.IPAMFiles, &b.Files}, {&f.IPAMEndpoints, &b.Endpoints},
	} {
		if *o.given != nil {
			*o.bound = *o.given
		}
	}
	return b
}

func (f *settingsFile) checkIPAM() error {
	for i, t := range f.IPAMTypes {
		if !pluginName(t) {
			return fmt.Errorf("ipamTypes[%d]: %q: must be a plugin's file name in CNI_PATH (letters, digits, '.', '_', '-'; not starting with '.')", i, t)
		}
	}
	for _, l := range []struct {
		key   string
		paths []string
	}{{"ipamDataDirs", f.IPAMDataDirs}, {"ipamFiles", f.IPAMFiles}} {
		for i, p := range l.paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return fmt.Errorf("%s[%d]: %q: must be an absolute, clean path other than /", l.key, i, p)
			}
		}
	}
	for i, e := range f.IPAMEndpoints {
		if e == "" || strings.ContainsAny(e, " \t\n") {
			return fmt.Errorf("ipamEndpoints[%d]: %q: must be an endpoint as IPAM configs spell it, e.g. \"https://10.0.0.1:2379\"", i, e)
		}
	}
	return nil
}

func pluginName(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0
}

// ipamKeys are the keys of the allowed plugins that name a file, socket or
// endpoint, decoded as those plugins decode them (encoding/json: keys in
// any case, the last of duplicates wins), so no spelling slips past.
type ipamKeys struct {
	Name string `json:"name"`
	IPAM struct {
		DataDir           string `json:"dataDir"`            // host-local
		ResolvConf        string `json:"resolvConf"`         // host-local
		DaemonSocketPath  string `json:"daemonSocketPath"`   // dhcp
		LogFile           string `json:"log_file"`           // whereabouts
		ConfigurationPath string `json:"configuration_path"` // whereabouts
		Kubernetes        struct {
			Kubeconfig string `json:"kubeconfig"`
			APIRoot    string `json:"k8s_api_root"`
		} `json:"kubernetes"`
		EtcdHost       string `json:"etcd_host"` // whereabouts before 0.5
		EtcdKeyFile    string `json:"etcd_key_file"`
		EtcdCertFile   string `json:"etcd_cert_file"`
		EtcdCACertFile string `json:"etcd_ca_cert_file"`
	} `json:"ipam"`
}

// keyed is one IPAM key and its value.
type keyed struct{ key, value string }

func (k *ipamKeys) files() []keyed {
	in := &k.IPAM
	return []keyed{{"ipam.resolvConf", in.ResolvConf}, {"ipam.daemonSocketPath", in.DaemonSocketPath},
		{"ipam.configuration_path", in.ConfigurationPath}, {"ipam.kubernetes.kubeconfig", in.Kubernetes.Kubeconfig},
		{"ipam.etcd_key_file", in.EtcdKeyFile}, {"ipam.etcd_cert_file", in.EtcdCertFile}, {"ipam.etcd_ca_cert_file", in.EtcdCACertFile}}
}

func (k *ipamKeys) endpoints() []keyed {
	return []keyed{{"ipam.etcd_host", k.IPAM.EtcdHost}, {"ipam.kubernetes.k8s_api_root", k.IPAM.Kubernetes.APIRoot}}
}

// CheckIPAM refuses (code 7) an IPAM plugin ipamType ("" is none) that
// node.json does not allow, and any key of the config's ipam object that
// names a file, socket or endpoint outside its bounds: root runs the
// plugin with the whole config. stateDir is qinq's state, never a store.
func (s Settings) CheckIPAM(ipamType string, raw []byte, stateDir string) error {
	if ipamType == "" {
		return nil
	}
	if !slices.Contains(s.IPAM.Types, ipamType) {
		return cnierr.InvalidConfig("ipam.type", "%q: not allowed on this node: must be one of %s (only ipamTypes in %s changes that)",
			ipamType, quoted(s.IPAM.Types), s.file())
	}
	var k ipamKeys
	if err := json.Unmarshal(raw, &k); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return cnierr.InvalidConfig(typeErr.Field, "must be a string, got a JSON %s", typeErr.Value)
		}
		return cnierr.InvalidConfig("ipam", "%v", err)
	}
	for _, f := range k.files() {
		if f.value != "" && !slices.Contains(s.IPAM.Files, f.value) {
			return cnierr.InvalidConfig(f.key, "%q: not allowed on this node: must be one of %s (only ipamFiles in %s changes that)",
				f.value, quoted(s.IPAM.Files), s.file())
		}
	}
	for _, e := range k.endpoints() {
		if e.value != "" && !slices.Contains(s.IPAM.Endpoints, e.value) {
			return cnierr.InvalidConfig(e.key, "%q: not allowed on this node: must be one of %s (only ipamEndpoints in %s changes that)",
				e.value, quoted(s.IPAM.Endpoints), s.file())
		}
	}
	if err := s.checkIPAMLog(k.IPAM.LogFile); err != nil {
		return err
	}
	return s.checkDataDir(ipamType, &k, stateDir)
}

// checkIPAMLog: whereabouts appends to log_file, following symlinks, as
// root: only a file directly in the node's log directory, as for logFile.
func (s Settings) checkIPAMLog(file string) error {
	if file == "" || s.CheckLogFile(file) == nil {
		return nil
	}
	return cnierr.InvalidConfig("ipam.log_file", "%q: must be a file directly in the node's log directory %s (not %s; only logDir in %s changes that directory)",
		file, s.LogDir, PolicyLog, s.file())
}

// checkDataDir bounds host-local's store, dataDir/<name>, where root makes
// directories and files: inside one of IPAM.DataDirs (symlinks resolved, so
// neither a spelling nor a name like "../../etc" leaves it), and never in
// qinq's own directories (a directory made in /etc/cni/qinq would switch
// the node policy on, closed, for every pod).
func (s Settings) checkDataDir(ipamType string, k *ipamKeys, stateDir string) error {
	dataDir := k.IPAM.DataDir
	if dataDir == "" && ipamType != "host-local" {
		return nil
	}
	key, base := "ipam.dataDir", dataDir
	if dataDir == "" {
		key, base = "name", hostLocalDefaultDir // host-local's default store, named by the network
	}
	store := resolved(filepath.Join(base, k.Name))
	if !filepath.IsAbs(base) || !slices.ContainsFunc(s.IPAM.DataDirs, func(d string) bool { return below(resolved(d), store) }) {
		return cnierr.InvalidConfig(key, "dataDir %q, name %q: host-local's store %s must be inside one of %s (only ipamDataDirs in %s changes that)",
			dataDir, k.Name, store, quoted(s.IPAM.DataDirs), s.file())
	}
	for _, own := range []string{Dir(), s.LogDir, stateDir} {
		if r := resolved(own); r == store || below(r, store) {
			return cnierr.InvalidConfig(key, "dataDir %q, name %q: host-local's store %s must not be in %s, qinq's own (node files, logs, state)",
				dataDir, k.Name, store, own)
		}
	}
	return nil
}

// below reports whether path is strictly inside dir (both clean, absolute).
func below(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

func (s Settings) file() string { return filepath.Join(Dir(), SettingsFile) }

func quoted(list []string) string {
	if len(list) == 0 {
		return "[] (none)"
	}
	q := make([]string, len(list))
	for i, v := range list {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
