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
	c.Leftovers = len(e.checkClean("concurrency "+name, []string{master}, nses))
	return c
}

// runConcurrency is item 4: qinq on one S-link (sVlan 100, a C-VLAN per
// container), then the reference vlan plugin the same way, both host-local.
func runConcurrency(e *Env, p params) ([]Concurrency, error) {
	masters := []string{"cq0", "cv0"}
	for _, m := range masters {
		if err := dummy(m); err != nil {
			return nil, err
		}
	}
	defer removeLinks(masters...)
	nses, err := newNSes(p.concurrent)
	defer closeNSes(nses)
	if err != nil {
		return nil, err
	}
	q := e.concurrent("qinq", e.Qinq, "cq0", func(i int) []byte {
		return conf(map[string]any{"name": "conc-qinq", "type": "qinq", "containerLink": "vlan", "master": "cq0", "sVlan": 100,
			"cVlans": []int{i + 1}, "ipam": hostLocal("10.30.0.0/16")})
	}, nses)
	v := e.concurrent("vlan", e.Vlan, "cv0", func(i int) []byte {
		return conf(map[string]any{"name": "conc-vlan", "type": "vlan", "master": "cv0", "vlanId": i + 1,
			"ipam": hostLocal("10.31.0.0/16")})
	}, nses)
	return []Concurrency{q, v}, nil
}
