package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// Concurrency is item 4 for one plugin: N ADDs started at once on one
// master, then N DELs.
type Concurrency struct {
	Plugin      string   `json:"plugin"`
	N           int      `json:"n"`
	AddWallMs   float64  `json:"addWallMs"`
	DelWallMs   float64  `json:"delWallMs"`
	AddFailures int      `json:"addFailures"`
	DelFailures int      `json:"delFailures"`
	Leftovers   int      `json:"leftovers"`
	Errors      []string `json:"errors,omitempty"`
}

// burst starts f(0..n-1) together and returns the wall time until the last
// one finished, and the errors.
func burst(n int, f func(i int) error) (time.Duration, []error) {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(i) }()
	}
	wg.Wait()
	wall := time.Since(start)
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	return wall, failed
}

func (e *Env) concurrent(name, plugin, master string, conf func(i int) []byte, nses []ns.NetNS) Concurrency {
	c := Concurrency{Plugin: name, N: len(nses)}
	run := func(cmd string) (time.Duration, []error) {
		return burst(len(nses), func(i int) error {
			_, err := e.Exec(plugin, Call{Cmd: cmd, ContainerID: fmt.Sprintf("conc%d", i), IfName: "net1", Netns: nses[i], Conf: conf(i)})
			return err
		})
	}
	addWall, addErrs := run("ADD")
	delWall, delErrs := run("DEL")
	c.AddWallMs, c.DelWallMs, c.AddFailures, c.DelFailures = ms(addWall), ms(delWall), len(addErrs), len(delErrs)
	for _, err := range append(addErrs, delErrs...) {
		e.problem("concurrency %s: %v", name, err)
		if len(c.Errors) < 5 {
			c.Errors = append(c.Errors, err.Error())
		}
	}
	if master != keptBy {
		c.Leftovers = len(e.checkClean("concurrency "+name, []string{master}, nses))
	}
	return c
}

// keptBy, as concurrent's master, says another pod keeps the chain: the
// node is checked once that pod is gone (Env.kept).
const keptBy = "(kept)"

// runConcurrency is item 4: N ADDs at once, then N DELs, of qinq against
// the reference plugin it replaces, each on its own dummy master:
//   - the vlan link (a C-VLAN per pod on S-VLAN 100) against vlan (a VLAN
//     per pod), with the S-link made by the burst and kept by another pod;
//   - the default bridge link (S 100, C 10) against bridge (vlan 10), with
//     the chain and the bridge made by the burst and kept (by another pod;
//     the reference bridge plugin never deletes its bridge).
func runConcurrency(e *Env, p params) ([]Concurrency, error) {
	masters := []string{"cq0", "cq1", "cv0", "cqb0", "cqb1"}
	for _, m := range masters {
		if err := dummy(m); err != nil {
			return nil, err
		}
	}
	defer removeLinks(append(masters, concBridge)...)
	nses, err := newNSes(p.concurrent + 2)
	defer closeNSes(nses)
	if err != nil {
		return nil, err
	}
	pods, keepers := nses[:p.concurrent], nses[p.concurrent:]
	qinq := func(name, master, link string, subnet string, cvlan func(i int) int) func(i int) []byte {
		return func(i int) []byte {
			return conf(map[string]any{"name": name, "type": "qinq", "containerLink": link, "master": master, "sVlan": 100,
				"cVlans": []int{cvlan(i)}, "ipam": hostLocal(subnet)})
		}
	}
	perPod := func(i int) int { return i + 1 }
	ten := func(int) int { return 10 }
	bridge := func(i int) []byte {
		return conf(map[string]any{"name": "conc-bridge", "type": "bridge", "bridge": concBridge, "vlan": 10,
			"ipam": hostLocal("10.36.0.0/16")})
	}
	// Every binary once first, so no burst pays for the page cache; each
	// qinq burst then runs next to its reference's: the shared host drifts
	// within minutes.
	for _, pl := range []string{e.Qinq, e.Vlan, e.Bridge, e.CNIPath + "/host-local"} {
		if _, err := e.Exec(pl, Call{Cmd: "VERSION", Conf: []byte(`{"cniVersion":"1.1.0"}`)}); err != nil {
			return nil, err
		}
	}
	var out []Concurrency
	out = append(out, e.concurrent("qinq", e.Qinq, "cq0", qinq("conc-qinq", "cq0", "vlan", "10.30.0.0/16", perPod), pods))
	out = append(out, e.concurrent("vlan", e.Vlan, "cv0", func(i int) []byte {
		return conf(map[string]any{"name": "conc-vlan", "type": "vlan", "master": "cv0", "vlanId": i + 1,
			"ipam": hostLocal("10.31.0.0/16")})
	}, pods))
	kept, err := e.kept(keepers[0], pods, map[string]any{"name": "conc-qinq-keep", "type": "qinq", "containerLink": "vlan",
		"master": "cq1", "sVlan": 100, "cVlans": []int{4000}}, func() Concurrency {
		return e.concurrent("qinq-kept", e.Qinq, keptBy, qinq("conc-qinq-kept", "cq1", "vlan", "10.32.0.0/16", perPod), pods)
	})
	if err != nil {
		return nil, err
	}
	out = append(out, kept)
	out = append(out, e.concurrent("qinq-bridge", e.Qinq, "cqb0", qinq("conc-qinq-bridge", "cqb0", "bridge", "10.33.0.0/16", ten), pods))
	out = append(out, e.concurrent("bridge", e.Bridge, "", bridge, pods))
	out = append(out, e.concurrent("bridge-kept", e.Bridge, "", bridge, pods))
	kept, err = e.kept(keepers[1], pods, map[string]any{"name": "conc-qinq-bridge-keep", "type": "qinq", "containerLink": "bridge",
		"master": "cqb1", "sVlan": 100, "cVlans": []int{10}}, func() Concurrency {
		return e.concurrent("qinq-bridge-kept", e.Qinq, keptBy, qinq("conc-qinq-bridge-kept", "cqb1", "bridge", "10.34.0.0/16", ten), pods)
	})
	if err != nil {
		return nil, err
	}
	out = append(out, kept)
	return out, nil
}

// concBridge is the reference bridge plugin's bridge in item 4.
const concBridge = "cbr0"

// kept runs burst while another pod (in keeper, on network c) keeps the
// chain, as a node's other pods would; that pod goes after it.
func (e *Env) kept(keeper ns.NetNS, pods []ns.NetNS, c map[string]any, burst func() Concurrency) (Concurrency, error) {
	call := Call{Cmd: "ADD", ContainerID: "conc-keeper", IfName: "net1", Netns: keeper, Conf: conf(c)}
	if _, err := e.Exec(e.Qinq, call); err != nil {
		return Concurrency{}, err
	}
	r := burst()
	call.Cmd = "DEL"
	if _, err := e.Exec(e.Qinq, call); err != nil {
		return Concurrency{}, err
	}
	r.Leftovers = len(e.checkClean("concurrency "+r.Plugin+" (its keeper gone)", []string{c["master"].(string)}, append([]ns.NetNS{keeper}, pods...)))
	return r, nil
}
