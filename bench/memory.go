package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is item 6: peak RSS (KiB) of one ADD, as /usr/bin/time reports it
// ("Maximum resident set size", %M). It is the larger of the plugin's own
// peak and its IPAM child's, so the IPAM plugin's own peak is measured too:
// when it is below both, the rows are the plugins'. (The bench cannot read
// the rusage of its own children: a Go parent forks with CLONE_VM, and the
// kernel counts the parent's resident pages into the child's peak at exec;
// GNU time's own image is a few hundred KiB.)
type Memory struct {
	QinqKB       Summary `json:"qinqKB"`
	VlanKB       Summary `json:"vlanKB"`
	QinqNoIPAMKB Summary `json:"qinqNoIPAMKB"`
	StaticKB     Summary `json:"staticIPAMKB"`
}

// runMemory alternates ADDs (each followed by its DEL) of qinq, the
// reference vlan, qinq without IPAM and the static IPAM plugin alone.
func runMemory(e *Env, p params) (Memory, error) {
	masters := []string{"mq0", "mv0", "mn0"}
	for _, m := range masters {
		if err := dummy(m); err != nil {
			return Memory{}, err
		}
	}
	defer removeLinks(masters...)
	nses, err := newNSes(3)
	defer closeNSes(nses)
	if err != nil {
		return Memory{}, err
	}
	ipam := staticIPAM("10.40.0.2/24")
	vs := []*variant{
		{Name: "qinq", Plugin: e.Qinq, NS: nses[0], Conf: conf(map[string]any{"name": "mem-qinq", "type": "qinq",
			"master": "mq0", "sVlan": 100, "cVlans": []int{10}, "ipam": ipam})},
		{Name: "vlan", Plugin: e.Vlan, NS: nses[1], Conf: conf(map[string]any{"name": "mem-vlan", "type": "vlan",
			"master": "mv0", "vlanId": 10, "ipam": ipam})},
		{Name: "qinq-noipam", Plugin: e.Qinq, NS: nses[2], Conf: conf(map[string]any{"name": "mem-qinq-l2", "type": "qinq",
			"master": "mn0", "sVlan": 100, "cVlans": []int{10}})},
		{Name: "static", Plugin: e.CNIPath + "/static", NS: nses[0], Conf: conf(map[string]any{"name": "mem-static", "ipam": ipam})},
	}
	kb := map[string][]float64{}
	for i := 0; i < p.memoryRuns; i++ {
		for j := range vs {
			v := vs[(i+j)%len(vs)]
			rss, err := e.addRSS(v, fmt.Sprintf("mem-%d", i))
			if err != nil {
				return Memory{}, err
			}
			kb[v.Name] = append(kb[v.Name], float64(rss))
		}
	}
	e.checkClean("memory", masters, nses)
	return Memory{QinqKB: summarize(kb["qinq"]), VlanKB: summarize(kb["vlan"]),
		QinqNoIPAMKB: summarize(kb["qinq-noipam"]), StaticKB: summarize(kb["static"])}, nil
}

const timeOut = "/tmp/bench-time.txt"

func (e *Env) addRSS(v *variant, id string) (int64, error) {
	call := Call{Cmd: "ADD", ContainerID: id, IfName: "net1", Netns: v.NS, Conf: v.Conf,
		Wrap: []string{"/usr/bin/time", "-f", "%M", "-o", timeOut, "--"}}
	if _, err := e.Exec(v.Plugin, call); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(timeOut)
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/usr/bin/time -f %%M: %q: %w", data, err)
	}
	call.Cmd, call.Wrap = "DEL", nil
	_, err = e.Exec(v.Plugin, call)
	return kb, err
}
