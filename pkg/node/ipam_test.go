package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoad_IPAMBoundsDefaultWithOrWithoutNodeJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.json")
	for _, data := range []string{"", `{"version":1}`, `{"version":1,"logDir":"/var/log/x"}`} {
		if data != "" {
			write(t, p, data, 0o600)
		}
		s, err := load(p)
		if err != nil || !slices.Equal(s.IPAM.Types, []string{"host-local", "static", "whereabouts", "dhcp"}) ||
			!slices.Equal(s.IPAM.DataDirs, DefaultIPAMDataDirs) || !slices.Equal(s.IPAM.Files, DefaultIPAMFiles) || s.IPAM.Endpoints != nil {
			t.Errorf("node.json %q: %+v %v, want the default IPAM bounds", data, s.IPAM, err)
		}
	}
	write(t, p, `{"version":1,"ipamTypes":["host-local","portmap"],"ipamDataDirs":["/srv/ipam"],"ipamFiles":[],"ipamEndpoints":["https://etcd:2379"]}`, 0o600)
	s, err := load(p)
	if err != nil || !slices.Equal(s.IPAM.Types, []string{"host-local", "portmap"}) || !slices.Equal(s.IPAM.DataDirs, []string{"/srv/ipam"}) ||
		s.IPAM.Files == nil || len(s.IPAM.Files) != 0 || !slices.Equal(s.IPAM.Endpoints, []string{"https://etcd:2379"}) {
		t.Fatalf("%+v %v: want node.json's lists, an empty one allowing nothing", s.IPAM, err)
	}
}

func TestLoad_BadIPAMKeysAreRefusedAndLeaveTheDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.json")
	for data, want := range map[string]string{
		`{"version":1,"ipamtypes":["portmap"]}`:            "unknown field",
		`{"version":1,"ipamTypes":"host-local"}`:           "ipamTypes",
		`{"version":1,"ipamTypes":["../../bin/sh"]}`:       "ipamTypes[0]",
		`{"version":1,"ipamTypes":["ok",".hidden"]}`:       "ipamTypes[1]",
		`{"version":1,"ipamTypes":[""]}`:                   "ipamTypes[0]",
		`{"version":1,"ipamDataDirs":["var/lib/cni"]}`:     "ipamDataDirs[0]",
		`{"version":1,"ipamDataDirs":["/"]}`:               "ipamDataDirs[0]",
		`{"version":1,"ipamFiles":["/etc/../etc/x"]}`:      "ipamFiles[0]",
		`{"version":1,"ipamEndpoints":["a b"]}`:            "ipamEndpoints[0]",
		`{"version":1,"ipamEndpoints":["x",""]}`:           "ipamEndpoints[1]",
		`{"version":1,"ipamFiles":{"/etc/resolv.conf":1}}`: "ipamFiles",
	} {
		write(t, p, data, 0o600)
		s, err := load(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", data, err, want)
		}
		if !slices.Equal(s.IPAM.Types, DefaultIPAMTypes) || !slices.Equal(s.IPAM.Files, DefaultIPAMFiles) {
			t.Errorf("%s: a bad node.json must leave the defaults, got %+v", data, s.IPAM)
		}
	}
}

func TestCheckIPAM_TypesOnlyFromTheNodesList(t *testing.T) {
	s := defaults()
	for _, ok := range []string{"", "host-local", "static", "whereabouts", "dhcp"} {
		if err := s.CheckIPAM(ok, []byte(`{"name":"n","ipam":{"type":"`+ok+`"}}`), "/run/qinq"); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"portmap", "bandwidth", "Host-Local", "../../../usr/bin/id", "host-local/", "sbr"} {
		err := s.CheckIPAM(bad, []byte(`{"ipam":{}}`), "/run/qinq")
		if err == nil || !strings.HasPrefix(err.Error(), "ipam.type: ") || !strings.Contains(err.Error(), `["host-local", "static", "whereabouts", "dhcp"]`) {
			t.Errorf("%q: %v, want code 7 naming ipam.type and the allowed list", bad, err)
		}
	}
	s.IPAM.Types = []string{}
	if err := s.CheckIPAM("host-local", []byte(`{}`), "/run/qinq"); err == nil || !strings.Contains(err.Error(), "(none)") {
		t.Errorf("an empty ipamTypes allows nothing: %v", err)
	}
}

func TestCheckIPAM_FilesSocketsAndEndpointsOnlyFromTheNodesLists(t *testing.T) {
	s := defaults()
	s.LogDir = "/var/log/qinq"
	s.IPAM.Endpoints = []string{"https://10.0.0.1:2379"}
	ok := []string{
		`{"resolvConf":"/etc/resolv.conf"}`, `{"daemonSocketPath":"/run/cni/dhcp.sock"}`,
		`{"log_file":"/var/log/qinq/whereabouts.log"}`, `{"kubernetes":{"kubeconfig":"/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"}}`,
		`{"configuration_path":"/etc/cni/net.d/whereabouts.d/whereabouts.conf"}`, `{"etcd_host":"https://10.0.0.1:2379"}`,
	}
	for _, ipam := range ok {
		if err := s.CheckIPAM("whereabouts", []byte(`{"name":"n","ipam":`+ipam+`}`), "/run/qinq"); err != nil {
			t.Errorf("%s: %v", ipam, err)
		}
	}
	for ipam, key := range map[string]string{
		`{"resolvConf":"/etc/shadow"}`:                               "ipam.resolvConf",
		`{"RESOLVCONF":"/etc/shadow"}`:                               "ipam.resolvConf",
		`{"resolvConf":"/etc/resolv.conf","resolvconf":"/etc/x"}`:    "ipam.resolvConf", // the last wins, as in the plugin
		`{"resolvConf":"/etc//resolv.conf"}`:                         "ipam.resolvConf",
		`{"daemonSocketPath":"/run/containerd/containerd.sock"}`:     "ipam.daemonSocketPath",
		`{"log_file":"/etc/cron.d/x"}`:                               "ipam.log_file",
		`{"log_file":"/var/log/qinq/qinq-policy.log"}`:               "ipam.log_file",
		`{"log_file":"/var/log/qinq/../x"}`:                          "ipam.log_file",
		`{"kubernetes":{"kubeconfig":"/etc/kubernetes/admin.conf"}}`: "ipam.kubernetes.kubeconfig",
		`{"kubernetes":{"k8s_api_root":"https://evil:6443"}}`:        "ipam.kubernetes.k8s_api_root",
		`{"configuration_path":"/root/x.conf"}`:                      "ipam.configuration_path",
		`{"etcd_host":"https://10.0.0.2:2379"}`:                      "ipam.etcd_host",
		`{"etcd_cert_file":"/etc/kubernetes/pki/apiserver.crt"}`:     "ipam.etcd_cert_file",
		`{"etcd_ca_cert_file":"/x"}`:                                 "ipam.etcd_ca_cert_file",
		`{"etcd_key_file":"/x"}`:                                     "ipam.etcd_key_file",
		`{"dataDir":5}`:                                              "ipam.dataDir",
	} {
		err := s.CheckIPAM("whereabouts", []byte(`{"name":"n","ipam":`+ipam+`}`), "/run/qinq")
		if err == nil || !strings.HasPrefix(err.Error(), key+": ") {
			t.Errorf("%s: %v, want code 7 naming %s", ipam, err, key)
		}
	}
}

func TestCheckIPAM_HostLocalsStoreOnlyInsideTheNodesDataDirs(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("QINQ_ETC_DIR", filepath.Join(tmp, "etc"))
	s := defaults()
	s.LogDir = filepath.Join(tmp, "log")
	s.IPAM.DataDirs = []string{"/var/lib/cni/networks", filepath.Join(tmp, "ipam")}
	state := filepath.Join(tmp, "state")
	os.MkdirAll(filepath.Join(tmp, "ipam"), 0o755)
	os.Symlink("/etc", filepath.Join(tmp, "ipam", "etc"))
	check := func(name, dataDir string) error {
		return s.CheckIPAM("host-local", []byte(`{"name":"`+name+`","ipam":{"type":"host-local","dataDir":"`+dataDir+`"}}`), state)
	}
	for _, c := range [][2]string{{"n", ""}, {"n", "/var/lib/cni/networks"}, {"n", filepath.Join(tmp, "ipam")}, {"n", filepath.Join(tmp, "ipam", "sub")}, {"a/b", ""}} {
		if err := check(c[0], c[1]); err != nil {
			t.Errorf("name %q dataDir %q: %v", c[0], c[1], err)
		}
	}
	for _, c := range []struct{ name, dataDir, key string }{
		{"n", "/etc", "ipam.dataDir"},
		{"n", "/var/lib/cni", "ipam.dataDir"},                         // the store would be /var/lib/cni/n
		{"sudoers.d", "/etc", "ipam.dataDir"},                         // the attack: root's files in /etc/sudoers.d
		{"../../../etc", "", "name"},                                  // host-local's default dir, left by the name
		{"..", "/var/lib/cni/networks", "ipam.dataDir"},               // the store would be the parent itself
		{"x", "var/lib/cni/networks", "ipam.dataDir"},                 // relative: the plugin's working directory
		{"cron.d", filepath.Join(tmp, "ipam", "etc"), "ipam.dataDir"}, // a symlink out of an allowed directory
		{"n", filepath.Join(tmp, "ipam") + "/../etc", "ipam.dataDir"}, // qinq's /etc/cni/qinq, spelt around
		{"n", state, "ipam.dataDir"},                                  // qinq's state
		{"policy", filepath.Join(tmp, "log", ".."), "ipam.dataDir"},   // outside the bound
	} {
		err := check(c.name, c.dataDir)
		if err == nil || !strings.HasPrefix(err.Error(), c.key+": ") || !strings.Contains(err.Error(), "must") {
			t.Errorf("name %q dataDir %q: %v, want code 7 naming %s", c.name, c.dataDir, err, c.key)
		}
	}
	// qinq's own directories stay refused even inside an allowed one.
	s.IPAM.DataDirs = append(s.IPAM.DataDirs, tmp)
	for _, own := range []string{filepath.Join(tmp, "etc"), s.LogDir, state} {
		if err := check("n", own); err == nil || !strings.Contains(err.Error(), "qinq's own") {
			t.Errorf("dataDir %s: %v, want a refusal naming qinq's own directories", own, err)
		}
	}
	// Other plugins do not keep a store by name: only a dataDir they are given is bounded.
	if err := s.CheckIPAM("static", []byte(`{"name":"../../etc","ipam":{"type":"static"}}`), state); err != nil {
		t.Errorf("static with an odd name: %v", err)
	}
}
