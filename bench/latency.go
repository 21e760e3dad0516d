package main

import (
	"fmt"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// variant is one plugin configuration measured by ADD+DEL pairs into its own
// container.
type variant struct {
	Name, Desc string
	Plugin     string
	Conf       []byte
	NS         ns.NetNS
	Node       *node   // where the plugin runs; nil: the VM's namespace
	Hand       *byHand // instead of a plugin: links made by hand
}

// Latency is one variant's ADD, DEL and ADD+DEL times in milliseconds.
type Latency struct {
	Name string `json:"name"`
	Desc string `json:"desc"`
	// Made is the kind of link the variant put in the container (checked
	// once): a key the plugin ignores shows here.
	Made string  `json:"containerLinkMade"`
	Add  Summary `json:"add"`
	Del  Summary `json:"del"`
	Pair Summary `json:"pair"`
}

type samples struct{ add, del, pair []float64 }

func (s samples) latency(v *variant) Latency {
	return Latency{Name: v.Name, Desc: v.Desc, Add: summarize(s.add), Del: summarize(s.del), Pair: summarize(s.pair)}
}

// pair runs one ADD and its DEL. A failed ADD is still DELeted, as a
// runtime would, so one error does not poison the next pairs.
func (e *Env) pair(v *variant, id string) (add, del time.Duration, err error) {
	if v.Hand != nil {
		a, addErr := v.Hand.add()
		d, delErr := v.Hand.del()
		if addErr != nil {
			return 0, 0, addErr
		}
		return a, d, delErr
	}
	call := Call{ContainerID: id, IfName: "net1", Netns: v.NS, Conf: v.Conf, Node: v.Node}
	call.Cmd = "ADD"
	a, addErr := e.Exec(v.Plugin, call)
	call.Cmd = "DEL"
	d, delErr := e.Exec(v.Plugin, call)
	if addErr != nil {
		return 0, 0, addErr
	}
	return a.Dur, d.Dur, delErr
}

// interleave runs rounds of blocks of ADD+DEL pairs, one block per variant
// per round, rotating the order each round: drift of the shared machine and
// the position in a round fall on every variant alike.
func (e *Env) interleave(vs []*variant, rounds, block int) map[string]samples {
	out := map[string]samples{}
	for r := 0; r < rounds; r++ {
		for i := range vs {
			v := vs[(i+r)%len(vs)]
			s := out[v.Name]
			for j := 0; j < block; j++ {
				a, d, err := e.pair(v, fmt.Sprintf("%s-%d-%d", v.Name, r, j))
				if err != nil {
					e.problem("%s: %v", v.Name, err)
					continue
				}
				s.add, s.del, s.pair = append(s.add, ms(a)), append(s.del, ms(d)), append(s.pair, ms(a+d))
			}
			out[v.Name] = s
		}
	}
	return out
}

// latencyMasters: one dummy master per variant, so no variant sees another's
// links; lm0.10 is the pre-made VLAN link the reference macvlan stacks on.
var latencyMasters = []string{"lq0", "lv0", "lqq0", "lqs0", "lqm0", "lqms0", "lm0", "lqb0", "lqbs0", "lh0"}

// refBridge is the bridge the reference bridge plugin makes (and keeps).
const refBridge = "lbr0"

func latencyVariants(e *Env) []*variant {
	q := func(name, desc, master string, cvlans []int, subnet string, extra map[string]any) *variant {
		f := map[string]any{"name": "lat-" + name, "type": "qinq", "containerLink": "vlan", "master": master, "sVlan": 100,
			"cVlans": cvlans, "ipam": hostLocal(subnet)}
		for k, x := range extra {
			f[k] = x
		}
		return &variant{Name: name, Desc: desc, Plugin: e.Qinq, Conf: conf(f)}
	}
	return []*variant{
		q("qinq", "qinq kernel mode, sVlan 100, cVlans [10], host-local", "lq0", []int{10}, "10.10.0.0/24", nil),
		{Name: "vlan", Desc: "reference vlan v1.9.1, vlanId 10, host-local", Plugin: e.Vlan,
			Conf: conf(map[string]any{"name": "lat-vlan", "type": "vlan", "master": "lv0", "vlanId": 10, "ipam": hostLocal("10.11.0.0/24")})},
		q("qinqinq", "qinq, sVlan 100, cVlans [50,10], host-local", "lqq0", []int{50, 10}, "10.12.0.0/24", nil),
		q("qinq-shared", "qinq [10] while another attachment keeps the S-link", "lqs0", []int{10}, "10.13.0.0/24", nil),
		q("qinq-macvlan", `qinq [10], "containerLink": "macvlan", host-local`, "lqm0", []int{10}, "10.14.0.0/24",
			map[string]any{"containerLink": "macvlan"}),
		q("qinq-macvlan-shared", `qinq [10], "containerLink": "macvlan", while another pod keeps the chain`, "lqms0", []int{10},
			"10.16.0.0/24", map[string]any{"containerLink": "macvlan"}),
		{Name: "macvlan", Desc: "reference macvlan v1.9.1 (bridge) on a VLAN link, host-local", Plugin: e.Macvlan,
			Conf: conf(map[string]any{"name": "lat-macvlan", "type": "macvlan", "master": "lm0.10", "mode": "bridge",
				"ipam": hostLocal("10.15.0.0/24")})},
		q("qinq-bridge", `qinq [10], "containerLink": "bridge", host-local`, "lqb0", []int{10}, "10.17.0.0/24",
			map[string]any{"containerLink": "bridge"}),
		q("qinq-bridge-shared", `qinq [10], "containerLink": "bridge", while another pod keeps the chain and its bridge`, "lqbs0",
			[]int{10}, "10.18.0.0/24", map[string]any{"containerLink": "bridge"}),
		{Name: "bridge", Desc: "reference bridge v1.9.1, vlan 10 (its bridge kept between pods), host-local", Plugin: e.Bridge,
			Conf: conf(map[string]any{"name": "lat-bridge", "type": "bridge", "bridge": refBridge, "vlan": 10,
				"ipam": hostLocal("10.19.0.0/24")})},
	}
}

// standingConfs are the networks of the standing attachments, one each.
var standingConfs = []map[string]any{
	{"name": "lat-qinq-shared", "type": "qinq", "containerLink": "vlan", "master": "lqs0", "sVlan": 100, "cVlans": []int{11}},
	{"name": "lat-qinq-macvlan-shared", "type": "qinq", "master": "lqms0", "sVlan": 100, "cVlans": []int{10},
		"containerLink": "macvlan"},
	{"name": "lat-qinq-bridge-shared", "type": "qinq", "master": "lqbs0", "sVlan": 100, "cVlans": []int{10},
		"containerLink": "bridge"},
}

// standing are the attachments that keep qinq-shared's S-link and the
// chains of qinq-macvlan-shared and qinq-bridge-shared alive, as other pods
// on the node would.
func standing(nses []ns.NetNS) []Call {
	keep := standingConfs
	calls := make([]Call, len(keep))
	for i, c := range keep {
		calls[i] = Call{ContainerID: fmt.Sprintf("standing-%d", i), IfName: "net1", Netns: nses[i], Conf: conf(c)}
	}
	return calls
}

// runLatency is item 1: ADD+DEL latency of each variant, interleaved.
func runLatency(e *Env, p params) ([]Latency, error) {
	for _, m := range latencyMasters {
		if err := dummy(m); err != nil {
			return nil, err
		}
	}
	defer removeLinks(append(latencyMasters, refBridge)...)
	if err := (*node)(nil).vlanOn("lm0", "lm0.10", 10); err != nil {
		return nil, err
	}
	vs := latencyVariants(e)
	nses, err := newNSes(len(vs) + len(standingConfs) + 1) // the last: the by-hand links' namespace
	defer closeNSes(nses)
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		v.NS = nses[i]
	}
	hands, err := handVariants(nses[len(nses)-1])
	defer func() {
		for _, v := range hands {
			v.Hand.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	keep := standing(nses[len(vs) : len(nses)-1])
	for _, call := range keep {
		call.Cmd = "ADD"
		if _, err := e.Exec(e.Qinq, call); err != nil {
			return nil, err
		}
	}
	made := map[string]string{}
	for _, v := range vs {
		if made[v.Name], err = e.linkMade(v); err != nil {
			return nil, err
		}
	}
	for _, v := range hands {
		made[v.Name] = "links by hand"
	}
	vs = append(vs, hands...)
	got := e.interleave(vs, p.latencyRounds, p.latencyBlock)
	for _, call := range keep {
		call.Cmd = "DEL"
		if _, err := e.Exec(e.Qinq, call); err != nil {
			e.problem("latency: %v", err)
		}
	}
	e.checkClean("latency", []string{"lq0", "lv0", "lqq0", "lqs0", "lqm0", "lqms0", "lm0.10", "lqb0", "lqbs0", "lh0"}, nses)
	out := make([]Latency, len(vs))
	for i, v := range vs {
		out[i] = got[v.Name].latency(v)
		out[i].Made = made[v.Name]
	}
	return out, nil
}

// handVariants are the rows of the kernel's cost of a chain's extra links
// (byHand), made in own: the S-link, S and C, S, C and the bridge.
func handVariants(own ns.NetNS) ([]*variant, error) {
	descs := map[int]string{1: "by hand: the S-link made and deleted",
		2: "by hand: the S-link and C-link made and deleted", 3: "by hand: the S-link, C-link and a bridge made and deleted"}
	var out []*variant
	for depth := 1; depth <= 3; depth++ {
		h, err := newByHand("lh0", depth, own)
		if err != nil {
			return out, err
		}
		out = append(out, &variant{Name: chainByHand[depth], Desc: descs[depth], Hand: h})
	}
	return out, nil
}

// linkMade ADDs v once and reports the kind of link (vlan, macvlan...) it
// put in the container as net1, then DELs it.
func (e *Env) linkMade(v *variant) (string, error) {
	call := Call{Cmd: "ADD", ContainerID: v.Name + "-probe", IfName: "net1", Netns: v.NS, Conf: v.Conf}
	if _, err := e.Exec(v.Plugin, call); err != nil {
		return "", err
	}
	kind, err := linkKind(v.NS, "net1")
	call.Cmd = "DEL"
	if _, derr := e.Exec(v.Plugin, call); err == nil {
		err = derr
	}
	return kind, err
}
