//go:build !kerneltest

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// standIn puts a plugin named name in the test's CNI_PATH that agrees to
// everything and appends each verb it is run for to name.calls.
func (p *plugin) standIn(name string) (calls func() string) {
	p.t.Helper()
	log := filepath.Join(p.cniPath, name+".calls")
	script := "#!/bin/sh\necho \"$CNI_COMMAND\" >> " + log + "\necho '{\"cniVersion\":\"1.1.0\"}'\n"
	if err := os.WriteFile(filepath.Join(p.cniPath, name), []byte(script), 0o755); err != nil {
		p.t.Fatal(err)
	}
	return func() string { data, _ := os.ReadFile(log); return string(data) }
}

// withNodeJSON writes node.json (and a policy granting the tests' network
// to callers without a namespace: node.json lives in the policy's
// directory, whose presence switches the policy on).
func (p *plugin) withNodeJSON(data string) {
	p.t.Helper()
	p.withPolicy(`{"version":1,"noNamespace":{"masters":["eth9"],"sVlans":["100"],"containerLinks":["vlan"]}}`)
	if err := os.WriteFile(filepath.Join(p.etc, "node.json"), []byte(data), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

const portmapNAD = `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"cni.dev/valid-attachments":[],` +
	`"ipam":{"type":"portmap"},"runtimeConfig":{"portMappings":[{"hostPort":22,"containerPort":2222,"protocol":"tcp"}]}}`

// The attack: ipam.type names a plugin that is no IPAM (portmap,
// which installs DNAT rules on the node). Without node.json the default
// ipamTypes hold: ADD, CHECK and STATUS refuse it with 7 naming ipam.type
// and the allowed list; DEL and GC succeed; none ever runs it.
func TestIPAMType_NotInTheNodesListIsCode7AndNeverRuns(t *testing.T) {
	p := newPlugin(t)
	calls := p.standIn("portmap")
	for _, verb := range []string{"ADD", "CHECK", "STATUS"} {
		p.fails(verb, portmapNAD, 7, "ipam.type", `"portmap"`, `["host-local", "static", "whereabouts", "dhcp"]`, "ipamTypes")
	}
	for _, verb := range []string{"DEL", "GC"} {
		if exit, out := p.run(verb, portmapNAD); exit != 0 {
			t.Fatalf("%s: exit %d %s; want success with nothing run", verb, exit, out)
		}
	}
	if got := calls(); got != "" {
		t.Fatalf("the refused plugin ran: %q", got)
	}
	if _, err := os.Stat(p.etc); err == nil {
		t.Fatalf("%s exists: the node policy would now be required", p.etc)
	}
}

// Control: the node's admin lists portmap in ipamTypes; the same DEL and
// GC then run it (so the test above would see it run).
func TestIPAMType_InTheNodesListRuns(t *testing.T) {
	p := newPlugin(t)
	calls := p.standIn("portmap")
	p.withNodeJSON(`{"version":1,"ipamTypes":["host-local","portmap"]}`)
	for _, verb := range []string{"DEL", "GC"} {
		if exit, out := p.run(verb, portmapNAD); exit != 0 {
			t.Fatalf("%s: exit %d %s", verb, exit, out)
		}
	}
	if got := calls(); got != "DEL\nGC\n" {
		t.Fatalf("portmap ran for %q, want DEL then GC", got)
	}
	// And the admin's list is the whole list: static is no longer allowed.
	p.fails("ADD", `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"ipam":{"type":"static"}}`,
		7, "ipam.type", `["host-local", "portmap"]`)
}

// Keys that make an allowed IPAM plugin read, write or connect elsewhere
// are refused with 7 naming the key, before IPAM runs; DEL succeeds.
func TestIPAMKeys_OutsideTheNodesBoundsAreCode7AndNeverReachIPAM(t *testing.T) {
	p := newPlugin(t)
	calls := p.standIn("whereabouts")
	hostLocal := p.standIn("host-local")
	for _, c := range []struct{ ipam, key string }{
		{`{"type":"host-local","resolvConf":"/etc/shadow"}`, "ipam.resolvConf"},
		{`{"type":"host-local","dataDir":"/etc"}`, "ipam.dataDir"},
		{`{"type":"host-local","DATADIR":"/etc"}`, "ipam.dataDir"},
		{`{"type":"dhcp","daemonSocketPath":"/run/containerd/containerd.sock"}`, "ipam.daemonSocketPath"},
		{`{"type":"whereabouts","log_file":"/etc/cron.d/x"}`, "ipam.log_file"},
		{`{"type":"whereabouts","kubernetes":{"kubeconfig":"/etc/kubernetes/admin.conf"}}`, "ipam.kubernetes.kubeconfig"},
		{`{"type":"whereabouts","configuration_path":"/root/w.conf"}`, "ipam.configuration_path"},
		{`{"type":"whereabouts","etcd_host":"10.0.0.1:2379"}`, "ipam.etcd_host"},
		{`{"type":"whereabouts","etcd_key_file":"/etc/kubernetes/pki/etcd/server.key"}`, "ipam.etcd_key_file"},
		{`{"type":"whereabouts","kubernetes":"x"}`, "ipam.kubernetes"},
	} {
		conf := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"cni.dev/valid-attachments":[],"ipam":` + c.ipam + `}`
		for _, verb := range []string{"ADD", "CHECK", "STATUS"} {
			p.fails(verb, conf, 7, c.key)
		}
		for _, verb := range []string{"DEL", "GC"} {
			if exit, out := p.run(verb, conf); exit != 0 {
				t.Fatalf("%s %s: exit %d %s", verb, c.ipam, exit, out)
			}
		}
	}
	if got := calls() + hostLocal(); got != "" {
		t.Fatalf("IPAM ran with a refused key: %q", got)
	}
	// Control: within the bounds, the same plugin runs.
	ok := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"ipam":{"type":"whereabouts",` +
		`"log_file":"` + filepath.Join(p.logDir, "whereabouts.log") + `","kubernetes":{"kubeconfig":"/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"}}}`
	if exit, out := p.run("DEL", ok); exit != 0 || calls() != "DEL\n" {
		t.Fatalf("DEL within the bounds: exit %d %s, calls %q", exit, out, calls())
	}
}
