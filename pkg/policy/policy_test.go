package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/config"
)

const twoTenants = `{
  "version": 1,
  "namespaces": {
    "tenant-a": {"masters": ["eth1"], "sVlans": ["100-199"], "sProtos": null, "cVlans": ["10-19"],
                 "containerLinks": ["macvlan", "ipvlan"], "tunnelMode": false, "linkInContainer": false, "l2ProtocolTunnel": true,
                 "bridges": ["br-a"], "chainedOvs": false, "mac": true},
    "tenant-b": {"masters": ["eth1"], "sVlans": ["200-299"], "cVlans": ["1-4094"], "containerLinks": ["vlan"],
                 "tunnelMode": true, "sProtos": ["802.1ad", "802.1Q"]}
  },
  "noNamespace": {"masters": ["eth2"], "sVlans": ["3000"], "cVlans": ["1"], "containerLinks": ["vlan"]}
}`

func mustParse(t *testing.T, data string) *Policy {
	t.Helper()
	p, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func conf(t *testing.T, js string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq",`+js+`}`), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func refusedBy(t *testing.T, err error, rule string) {
	t.Helper()
	e, ok := err.(*types.Error)
	if !ok || e.Code != 102 || !strings.HasPrefix(e.Msg, "policy: "+rule+": ") || e.Details != "rule "+rule {
		t.Fatalf("got %v, want code 102 naming rule %s", err, rule)
	}
}

func TestAllow_WhatTheEntryGrants(t *testing.T) {
	p := mustParse(t, twoTenants)
	for _, c := range []struct{ args, conf, entry string }{
		{"K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAME=web", `"master":"eth1","sVlan":150,"cVlans":[12],"containerLink":"macvlan","mac":"02:00:00:00:00:01"`, "namespaces.tenant-a"},
		{"K8S_POD_NAMESPACE=tenant-b", `"master":"eth1","sVlan":250,"sProto":"802.1Q"`, "namespaces.tenant-b"},
		{"K8S_POD_NAMESPACE=tenant-a", `"mode":"ovs","bridge":"br-a","sVlan":100,"cVlans":[10]`, "namespaces.tenant-a"},
		{"K8S_POD_NAMESPACE=tenant-b", `"master":"eth1","sVlan":250`, "namespaces.tenant-b"},
		{"IgnoreUnknown=1", `"master":"eth2","sVlan":3000,"cVlans":[1]`, "noNamespace"},
		{"", `"master":"eth2","sVlan":3000,"cVlans":[1]`, "noNamespace"},
	} {
		entry, err := p.Allow(c.args, conf(t, c.conf), nil)
		if err != nil || entry != c.entry {
			t.Errorf("%s %s: %q %v, want allowed by %s", c.args, c.conf, entry, err, c.entry)
		}
	}
}

func TestAllow_RefusesWhatTheEntryDoesNotGrantNamingTheRule(t *testing.T) {
	p := mustParse(t, twoTenants)
	a := "K8S_POD_NAMESPACE=tenant-a"
	for _, c := range []struct{ args, conf, rule string }{
		{a, `"master":"eth2","sVlan":150,"cVlans":[12],"containerLink":"macvlan"`, "namespaces.tenant-a.masters"},
		{a, `"master":"eth1","sVlan":250,"cVlans":[12],"containerLink":"macvlan"`, "namespaces.tenant-a.sVlans"},
		{a, `"master":"eth1","sVlan":150,"sProto":"802.1Q","cVlans":[12],"containerLink":"macvlan"`, "namespaces.tenant-a.sProtos"},
		{a, `"master":"eth1","sVlan":150,"cVlans":[20],"containerLink":"macvlan"`, "namespaces.tenant-a.cVlans"},
		{a, `"master":"eth1","sVlan":150,"cVlans":[12,20],"containerLink":"macvlan"`, "namespaces.tenant-a.cVlans"},
		{a, `"master":"eth1","sVlan":150,"containerLink":"macvlan"`, "namespaces.tenant-a.tunnelMode"},
		{a, `"master":"eth1","sVlan":150,"cVlans":[12]`, "namespaces.tenant-a.containerLinks"},
		{a, `"master":"net1","linkInContainer":true,"sVlan":150,"cVlans":[12]`, "namespaces.tenant-a.linkInContainer"},
		{a, `"mode":"ovs","bridge":"br-b","sVlan":100,"cVlans":[10]`, "namespaces.tenant-a.bridges"},
		{a, `"mode":"ovs","sVlan":100`, "namespaces.tenant-a.chainedOvs"},
		{a, `"mode":"ovs","bridge":"br-a","sVlan":100`, "namespaces.tenant-a.tunnelMode"},
		{a, `"mode":"ovs","bridge":"br-a","sVlan":100,"allowedCVlans":[10,30]`, "namespaces.tenant-a.cVlans"},
		{"K8S_POD_NAMESPACE=tenant-b", `"master":"eth1","sVlan":250,"mac":"02:00:00:00:00:01"`, "namespaces.tenant-b.mac"},
		{"K8S_POD_NAMESPACE=tenant-b", `"master":"eth1","sVlan":250,"l2ProtocolTunnel":true`, "namespaces.tenant-b.l2ProtocolTunnel"},
		{"K8S_POD_NAMESPACE=tenant-b", `"master":"eth1","sVlan":150,"cVlans":[12]`, "namespaces.tenant-b.sVlans"},
		{"K8S_POD_NAMESPACE=tenant-c", `"master":"eth1","sVlan":150,"cVlans":[12]`, "namespaces.tenant-c"},
		{"", `"master":"eth1","sVlan":150,"cVlans":[12]`, "noNamespace.masters"},
	} {
		_, err := p.Allow(c.args, conf(t, c.conf), nil)
		refusedBy(t, err, c.rule)
		if strings.Contains(err.Error(), "tenant-b") != strings.Contains(c.args+c.rule, "tenant-b") {
			t.Errorf("%v names another tenant", err)
		}
	}
	// OVS tunnel mode narrowed by allowedCVlans to granted C-VLANs needs no tunnelMode grant.
	if _, err := p.Allow(a, conf(t, `"mode":"ovs","bridge":"br-a","sVlan":100,"allowedCVlans":[10,11]`), nil); err != nil {
		t.Error(err)
	}
	// Without a noNamespace entry, callers naming none are refused.
	_, err := mustParse(t, `{"version":1,"namespaces":{},"noNamespace":null}`).Allow("", conf(t, `"master":"eth1","sVlan":1,"cVlans":[1]`), nil)
	refusedBy(t, err, "noNamespace")
}

const userNSPolicy = `{"version": 1, "namespaces": {
  "strict": {"masters": ["eth1"], "sVlans": ["100"], "cVlans": ["10"], "containerLinks": ["bridge"], "userNamespace": "required"},
  "open":   {"masters": ["eth1"], "sVlans": ["200"], "cVlans": ["10"], "containerLinks": ["bridge"], "userNamespace": "any"},
  "unsaid": {"masters": ["eth1"], "sVlans": ["300"], "cVlans": ["10"], "containerLinks": ["bridge"]}},
  "noNamespace": {"masters": ["eth1"], "sVlans": ["400"], "cVlans": ["10"], "containerLinks": ["bridge"], "userNamespace": "required"}}`

// userNamespace "required" asks the pod's netns (the check) and refuses,
// naming userNamespace, whatever stands in the way, or no check at all;
// "any" and an absent key never ask.
func TestAllow_UserNamespaceRequiredAsksThePodsNetnsAndFailsClosed(t *testing.T) {
	p := mustParse(t, userNSPolicy)
	on := func(s int) *config.Config { return conf(t, `"master":"eth1","sVlan":`+itoa(s)+`,"cVlans":[10]`) }
	own := errors.New("it is owned by qinq's own user namespace")
	below := func() error { return nil }
	for _, c := range []struct {
		args  string
		sVlan int
		check UserNamespaceCheck
		rule  string // "" = allowed
		says  string
	}{
		{"K8S_POD_NAMESPACE=strict", 100, below, "", ""},
		{"K8S_POD_NAMESPACE=strict", 100, func() error { return own }, "namespaces.strict.userNamespace", "qinq's own user namespace"},
		{"K8S_POD_NAMESPACE=strict", 100, nil, "namespaces.strict.userNamespace", "cannot be read"},
		{"", 400, func() error { return errors.New("open the network namespace: no such file") }, "noNamespace.userNamespace", "no such file"},
		{"", 400, below, "", ""},
		// The other grants are checked first: the config's refusal names them.
		{"K8S_POD_NAMESPACE=strict", 101, below, "namespaces.strict.sVlans", "S-VLAN 101"},
	} {
		_, err := p.Allow(c.args, on(c.sVlan), c.check)
		if c.rule == "" {
			if err != nil {
				t.Errorf("%q S%d: %v, want allowed", c.args, c.sVlan, err)
			}
			continue
		}
		refusedBy(t, err, c.rule)
		if !strings.Contains(err.Error(), c.says) || c.rule != "namespaces.strict.sVlans" && !strings.Contains(err.Error(), "hostUsers: false") {
			t.Errorf("%v: want it to say %q and how a pod gets a user namespace", err, c.says)
		}
	}
	never := func() error {
		t.Error("userNamespace \"any\" or absent read the pod's netns")
		return errors.New("asked")
	}
	for args, s := range map[string]int{"K8S_POD_NAMESPACE=open": 200, "K8S_POD_NAMESPACE=unsaid": 300} {
		if _, err := p.Allow(args, on(s), never); err != nil {
			t.Errorf("%s: %v", args, err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// The namespace comes from CNI_ARGS only, once, as a DNS-1123 label.
func TestNamespace_RefusesEmptyTwiceAndInvalidNames(t *testing.T) {
	for args, want := range map[string]string{"": "", "K8S_POD_NAME=x": "", "K8S_POD_NAMESPACE=a-1;X=y": "a-1", "k8s_pod_namespace=a": "",
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=p;IgnoreUnknown=1;K8S_POD_NAMESPACE=a": "a"} { // as Multus hands it on
		if ns, _, err := K8sNamespace(args); err != nil || ns != want {
			t.Errorf("%q: %q %v, want %q", args, ns, err, want)
		}
	}
	for _, args := range []string{"K8S_POD_NAMESPACE=", "K8S_POD_NAMESPACE", "K8S_POD_NAMESPACE=a;K8S_POD_NAMESPACE=b", "K8S_POD_NAMESPACE=a;X=1;K8S_POD_NAMESPACE=",
		"K8S_POD_NAMESPACE=../x", "K8S_POD_NAMESPACE=A", "K8S_POD_NAMESPACE=" + strings.Repeat("a", 64), "K8S_POD_NAMESPACE=tenаnt-a", // Cyrillic а
		"K8S_POD_NAMESPACE=-a", "K8S_POD_NAMESPACE=a-", "K8S_POD_NAMESPACE=a b", "K8S_POD_NAMESPACE=a\nb", "K8S_POD_NAMESPACE=a.b"} {
		_, _, err := K8sNamespace(args)
		refusedBy(t, err, "namespace")
	}
	if _, _, err := K8sNamespace("K8S_POD_NAMESPACE=" + strings.Repeat("a", 63)); err != nil {
		t.Error(err)
	}
}

func TestParse_IsStrict(t *testing.T) {
	for data, want := range map[string]string{
		``:                              "end of JSON",
		`{"version":1`:                  "end of JSON",
		`{"namespaces":{}}`:             "version",
		`{"version":2}`:                 "version",
		`{"version":1,"extra":1}`:       "unknown field",
		`{"version":1,"Namespaces":{}}`: "unknown field",
		`{"version":1,"namespaces":{"a":{"master":["eth1"]}}}`:          "unknown field",
		`{"version":1,"namespaces":{"a":{"Masters":["eth1"]}}}`:         "unknown field",
		`{"version":1,"namespaces":{"A":{}}}`:                           "namespaces",
		`{"version":1,"namespaces":{"a":null}}`:                         "namespaces.a",
		`{"version":1,"namespaces":{"a":{"sVlans":["0-10"]}}}`:          "namespaces.a.sVlans[0]",
		`{"version":1,"namespaces":{"a":{"sVlans":["20-10"]}}}`:         "namespaces.a.sVlans[0]",
		`{"version":1,"namespaces":{"a":{"cVlans":[100]}}}`:             "cannot unmarshal",
		`{"version":1,"namespaces":{"a":{"containerLinks":["veth"]}}}`:  "containerLinks[0]",
		`{"version":1,"namespaces":{"a":{"sProtos":["802.1ah"]}}}`:      "sProtos[0]",
		`{"version":1,"namespaces":{"a":{"sProtos":[""]}}}`:             "sProtos[0]",
		`{"version":1,"namespaces":{"a":{"mac":"yes"}}}`:                "cannot unmarshal",
		`{"version":1} {"version":1}`:                                   "after top-level value",
		`{"version":1,"namespaces":{"a":{"userNamespace":"Required"}}}`: `namespaces.a.userNamespace: "Required": must be "required" or "any"`,
		`{"version":1,"namespaces":{"a":{"userNamespace":""}}}`:         `namespaces.a.userNamespace: "": must be`,
		`{"version":1,"namespaces":{"a":{"userNamespace":"yes"}}}`:      `namespaces.a.userNamespace: "yes"`,
		`{"version":1,"namespaces":{"a":{"userNamespace":true}}}`:       "cannot unmarshal",
		`{"version":1,"namespaces":{"a":{"usernamespace":"any"}}}`:      "unknown field",
		`{"version":1,"noNamespace":{"userNamespace":"none"}}`:          `noNamespace.userNamespace: "none"`,
	} {
		if _, err := Parse([]byte(data)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", data, err, want)
		}
	}
}

func TestLoad_NoDirectoryIsNoPolicyADirectoryWithoutAValidPolicyFailsClosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qinq")
	t.Setenv("QINQ_ETC_DIR", dir)
	if p, err := Load(); p != nil || err != nil {
		t.Fatalf("no directory: %v %v, want no policy", p, err)
	}
	os.Mkdir(dir, 0o755)
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("directory without policy.json: %v, want an error", err)
	}
	path := filepath.Join(dir, File)
	for data, mode := range map[string]os.FileMode{`{"version":1}`: 0o666, `{"version":1,"x":1}`: 0o644, ``: 0o644} {
		os.WriteFile(path, []byte(data), mode)
		os.Chmod(path, mode)
		if _, err := Load(); err == nil {
			t.Errorf("%q mode %o: loaded", data, mode)
		}
	}
	os.Chmod(path, 0o644)
	os.WriteFile(path, []byte(twoTenants), 0o644)
	if os.Getuid() == 0 {
		if p, err := Load(); err != nil || p == nil {
			t.Fatalf("valid policy: %v", err)
		}
	}
}

// What a policy costs an ADD: reading and parsing the file, one decision.
func BenchmarkLoadAndAllow(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "qinq")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, File), []byte(twoTenants), 0o644)
	b.Setenv("QINQ_ETC_DIR", dir)
	c, _ := config.Parse([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth1","sVlan":150,"cVlans":[12],"containerLink":"macvlan"}`), "")
	for b.Loop() {
		p, err := Load()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Allow("K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAME=web", c, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// masters match the resolved master's name and every altname of it: a
// grant of "eth1" admits a NAD naming its altname (resolved to eth1), and a
// grant of the altname admits one naming eth1; another NIC's altname does
// not.
func TestAllow_MastersMatchTheLinkAndEveryAltnameOfIt(t *testing.T) {
	byName := mustParse(t, `{"version":1,"noNamespace":{"masters":["eth1"],"sVlans":["100"],"cVlans":["10"],"containerLinks":["macvlan"]}}`)
	byAlt := mustParse(t, `{"version":1,"noNamespace":{"masters":["uplink-a"],"sVlans":["100"],"cVlans":["10"],"containerLinks":["macvlan"]}}`)
	resolved := func(alts ...string) *config.Config {
		c := conf(t, `"master":"eth1","sVlan":100,"cVlans":[10],"containerLink":"macvlan"`)
		c.MasterAltNames = alts
		return c
	}
	if _, err := byName.Allow("", resolved("uplink-a"), nil); err != nil {
		t.Fatalf("a grant of eth1 refused its altname: %v", err)
	}
	if _, err := byAlt.Allow("", resolved("uplink-a"), nil); err != nil {
		t.Fatalf("a grant of the altname uplink-a refused eth1: %v", err)
	}
	_, err := byAlt.Allow("", resolved("uplink-b"), nil)
	refusedBy(t, err, "noNamespace.masters")
	_, err = byAlt.Allow("", resolved(), nil)
	refusedBy(t, err, "noNamespace.masters")
}
