package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
)

// profile is `qinq-bench profile` (make bench-profile): the figures behind
// the bench's ratios, in the VM: what each binary initialises before main,
// which syscalls and netlink requests an ADD and a DEL make, and how a
// DEL's syscalls grow with the attachments on its S-link and the S-links on
// its master.
func profile(e *Env, w io.Writer, small, large int) error {
	if err := profileInit(e, w); err != nil {
		return err
	}
	if err := profileVerbs(e, w); err != nil {
		return err
	}
	return profileGrowth(e, w, small, large)
}

// profileInit: GODEBUG=inittrace=1 prints one line per package initialised
// with its clock time; median of 7 VERSION runs.
func profileInit(e *Env, w io.Writer) error {
	fmt.Fprintln(w, "== init before main (GODEBUG=inittrace=1, VERSION, median of 7 runs)")
	for _, pl := range []string{e.Qinq, e.Vlan} {
		var pkgs, clock []float64
		top := map[string]float64{}
		for i := 0; i < 7; i++ {
			call := Call{Cmd: "VERSION", Conf: []byte(`{"cniVersion":"1.1.0"}`), Env: []string{"GODEBUG=inittrace=1"}}
			n, ms, per, err := inittrace(e, pl, call)
			if err != nil {
				return err
			}
			pkgs, clock = append(pkgs, float64(n)), append(clock, ms)
			for k, v := range per {
				top[k] += v / 7
			}
		}
		fmt.Fprintf(w, "%-8s %3.0f packages initialised, %.2f ms of init; slowest: %s\n",
			base(pl), median(pkgs), median(clock), slowest(top, 6))
	}
	return nil
}

var initLine = regexp.MustCompile(`^init (\S+) @\S+ ms, ([0-9.]+) ms clock`)

func inittrace(e *Env, plugin string, call Call) (int, float64, map[string]float64, error) {
	var stderr bytes.Buffer
	cmd := e.command(plugin, call)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, nil, fmt.Errorf("%s VERSION: %v", plugin, err)
	}
	n, total, per := 0, 0.0, map[string]float64{}
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		if m := initLine.FindStringSubmatch(sc.Text()); m != nil {
			ms, _ := strconv.ParseFloat(m[2], 64)
			n, total, per[m[1]] = n+1, total+ms, ms
		}
	}
	return n, total, per, nil
}

func slowest(per map[string]float64, k int) string {
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return per[names[i]] > per[names[j]] })
	var parts []string
	for _, n := range names[:min(k, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, per[n]))
	}
	return strings.Join(parts, ", ")
}

func base(path string) string { return path[strings.LastIndex(path, "/")+1:] }

// straced is one call run under strace -f -C -yy (the IPAM child included):
// the syscall counts, and the netlink requests decoded from the trace.
type straced struct {
	total      int
	calls      map[string]int
	requests   map[string]int  // netlink request type, "+dump" for dumps (ROUTE sockets)
	recvB      int             // bytes read from netlink sockets
	writeOpens int             // files opened for writing (sysctls, records, locks)
	pending    map[string]bool // pids in an unfinished netlink read
}

const straceOut = "/tmp/bench-strace.txt"

func (e *Env) strace(plugin string, call Call) (straced, error) {
	s := straced{calls: map[string]int{}, requests: map[string]int{}, pending: map[string]bool{}}
	call.Wrap = []string{"/usr/bin/strace", "-f", "-C", "-yy", "-o", straceOut, "--"}
	if _, err := e.Exec(plugin, call); err != nil {
		return s, err
	}
	f, err := os.Open(straceOut)
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		s.parse(sc.Text())
	}
	return s, sc.Err()
}

// The VM's kernel cannot tell strace a netlink socket's protocol, so the
// request types come out as numbers: rtnetlink's are named here.
var (
	openW     = regexp.MustCompile(`^\d+\s+openat\(.*O_(?:WRONLY|RDWR)`)
	nlSend    = regexp.MustCompile(`^(\d+)\s+send(?:to|msg)\(\d+<NETLINK:.*?nlmsg_type=(\w+)[^,]*, nlmsg_flags=([\w|]+)`)
	nlRecv    = regexp.MustCompile(`^(\d+)\s+recv(?:from|msg)\(\d+<NETLINK:.*\) = (\d+)$`)
	nlPending = regexp.MustCompile(`^(\d+)\s+recv(?:from|msg)\(\d+<NETLINK:.*<unfinished \.\.\.>$`)
	resumed   = regexp.MustCompile(`^(\d+)\s+<\.\.\. recv(?:from|msg) resumed>.*\) = (\d+)$`)
	rtmNames  = map[string]string{"0x10": "NEWLINK", "0x11": "DELLINK", "0x12": "GETLINK", "0x13": "SETLINK",
		"0x14": "NEWADDR", "0x15": "DELADDR", "0x16": "GETADDR", "0x18": "NEWROUTE", "0x19": "DELROUTE", "0x1a": "GETROUTE"}
)

// parse takes a trace line or a line of the -C summary ("% time seconds
// usecs/call calls [errors] syscall").
func (s *straced) parse(line string) {
	if openW.MatchString(line) {
		s.writeOpens++
	}
	if m := nlSend.FindStringSubmatch(line); m != nil {
		kind := strings.TrimPrefix(m[2], "RTM_")
		if name, ok := rtmNames[kind]; ok {
			kind = name
		}
		if strings.Contains(m[3], "NLM_F_DUMP") || strings.Contains(m[3], "0x300") {
			kind += "+dump"
		}
		s.requests[kind]++
		return
	}
	if m := nlPending.FindStringSubmatch(line); m != nil {
		s.pending[m[1]] = true
		return
	}
	m := nlRecv.FindStringSubmatch(line)
	if m == nil {
		if m = resumed.FindStringSubmatch(line); m != nil && !s.pending[m[1]] {
			m = nil
		}
	}
	if m != nil {
		delete(s.pending, m[1])
		n, _ := strconv.Atoi(m[2])
		s.recvB += n
		return
	}
	s.parseSummary(line)
}

func (s *straced) parseSummary(line string) {
	f := strings.Fields(line)
	if len(f) < 5 || len(f) > 6 {
		return
	}
	if _, err := strconv.ParseFloat(f[0], 64); err != nil {
		return
	}
	n, err := strconv.Atoi(f[3])
	if err != nil {
		return
	}
	if name := f[len(f)-1]; name == "total" {
		s.total = n
	} else {
		s.calls[name] = n
	}
}

func (s straced) netlink() int {
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

func (s straced) String() string {
	keys := make([]string, 0, len(s.requests))
	for k := range s.requests {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var req []string
	for _, k := range keys {
		req = append(req, fmt.Sprintf("%s %d", k, s.requests[k]))
	}
	return fmt.Sprintf("%d syscalls; %d netlink requests (%s), %d KiB read back; %d namespace switches (setns); files: %d opened for writing, openat %d, getdents64 %d, newfstatat %d, rename %d, unlinkat %d, mkdirat %d, flock %d",
		s.total, s.netlink(), strings.Join(req, ", "), s.recvB/1024, s.calls["setns"], s.writeOpens, s.calls["openat"], s.calls["getdents64"],
		s.calls["newfstatat"], s.calls["renameat"]+s.calls["rename"], s.calls["unlinkat"], s.calls["mkdirat"], s.calls["flock"])
}

// profileVerbs straces, for each container link next to its reference
// plugin (both host-local), the ADD of a first pod (qinq makes its chain,
// the reference bridge plugin its bridge), the ADD of a second pod on the
// same network (the chain kept), and both DELs: the second pod's, then the
// first's, which deletes the chain.
func profileVerbs(e *Env, w io.Writer) error {
	fmt.Fprintln(w, "\n== ADD and DEL under strace -f (plugin + host-local), per container link, next to its reference")
	masters := []string{"pqb0", "prb0", "pqv0", "prv0", "pqm0", "prm0"}
	for _, m := range masters {
		if err := dummy(m); err != nil {
			return err
		}
	}
	defer removeLinks(append(masters, "pbr0")...)
	if err := (*node)(nil).vlanOn("prm0", "prm0.10", 10); err != nil {
		return err
	}
	nses, err := newNSes(12)
	defer closeNSes(nses)
	if err != nil {
		return err
	}
	q := func(name, master, link, subnet string) map[string]any {
		return map[string]any{"name": name, "type": "qinq", "containerLink": link, "master": master, "sVlan": 100,
			"cVlans": []int{10}, "ipam": hostLocal(subnet)}
	}
	// A vlan link is the pod's own: the second pod takes the next VLAN
	// (the S-link kept, for qinq).
	second := func(c map[string]any, key string, v any) map[string]any {
		out := map[string]any{}
		for k, x := range c {
			out[k] = x
		}
		out[key] = v
		return out
	}
	vs := []struct {
		name   string
		plugin string
		conf   map[string]any
		second map[string]any // the second pod's network; nil: conf
	}{
		{"qinq bridge", e.Qinq, q("prof-qb", "pqb0", "bridge", "10.70.0.0/24"), nil},
		{"bridge", e.Bridge, map[string]any{"name": "prof-rb", "type": "bridge", "bridge": "pbr0", "vlan": 10, "ipam": hostLocal("10.71.0.0/24")}, nil},
		{"qinq vlan", e.Qinq, q("prof-qv", "pqv0", "vlan", "10.72.0.0/24"), second(q("prof-qv", "pqv0", "vlan", "10.72.0.0/24"), "cVlans", []int{11})},
		{"vlan", e.Vlan, map[string]any{"name": "prof-rv", "type": "vlan", "master": "prv0", "vlanId": 10, "ipam": hostLocal("10.73.0.0/24")},
			map[string]any{"name": "prof-rv", "type": "vlan", "master": "prv0", "vlanId": 11, "ipam": hostLocal("10.73.0.0/24")}},
		{"qinq macvlan", e.Qinq, q("prof-qm", "pqm0", "macvlan", "10.74.0.0/24"), nil},
		{"macvlan", e.Macvlan, map[string]any{"name": "prof-rm", "type": "macvlan", "master": "prm0.10", "mode": "bridge", "ipam": hostLocal("10.75.0.0/24")}, nil},
	}
	for i, v := range vs {
		steps := []struct{ what, verb, id string }{
			{"ADD, first pod", "ADD", "prof-1"}, {"ADD, chain kept", "ADD", "prof-2"},
			{"DEL, chain kept", "DEL", "prof-2"}, {"DEL, last pod", "DEL", "prof-1"},
		}
		for _, st := range steps {
			n, c := nses[2*i], v.conf
			if st.id == "prof-2" {
				n = nses[2*i+1]
				if v.second != nil {
					c = v.second
				}
			}
			s, err := e.strace(v.plugin, Call{Cmd: st.verb, ContainerID: st.id, IfName: "net1", Netns: n, Conf: conf(c)})
			if err != nil {
				return fmt.Errorf("%s %s: %w", v.name, st.what, err)
			}
			fmt.Fprintf(w, "%-12s %-16s %s\n", v.name, st.what+":", s)
		}
	}
	e.checkClean("profile", []string{"pqb0", "pqv0", "pqm0", "prv0", "prm0.10"}, nses)
	return nil
}

// profileGrowth straces qinq's ADD and DEL (static IPAM) with small and then
// large populations: attachments on one S-link, then S-links on one master.
func profileGrowth(e *Env, w io.Writer, small, large int) error {
	fmt.Fprintf(w, "\n== qinq ADD and DEL (static IPAM) under strace -f as the node fills up\n")
	if err := dummy("pg0"); err != nil {
		return err
	}
	defer removeLinks("pg0")
	mnses, err := newNSes(1)
	defer closeNSes(mnses)
	if err != nil {
		return err
	}
	for _, row := range []struct {
		what     string
		sVlan    int
		populate func(i int) []byte
	}{
		{"attachments on the S-link", 100, func(i int) []byte {
			return conf(map[string]any{"name": "prof-g", "type": "qinq", "containerLink": "vlan", "master": "pg0", "sVlan": 100, "cVlans": []int{i + 1}})
		}},
		{"S-links on the master", 4000, func(i int) []byte {
			return conf(map[string]any{"name": "prof-g", "type": "qinq", "containerLink": "vlan", "master": "pg0", "sVlan": i + 1, "cVlans": []int{10}})
		}},
	} {
		if err := e.profileRow(w, row.what, row.sVlan, row.populate, mnses[0], small, large); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) profileRow(w io.Writer, what string, sVlan int, populate func(int) []byte, n ns.NetNS, small, large int) error {
	pop := &population{containers: true, plugin: e.Qinq, conf: populate}
	defer func() { closeNSes(pop.nses) }()
	v := &variant{Plugin: e.Qinq, NS: n, Conf: conf(map[string]any{"name": "prof-g", "type": "qinq", "containerLink": "vlan", "master": "pg0",
		"sVlan": sVlan, "cVlans": []int{4000}, "ipam": staticIPAM("10.72.0.2/24")})}
	for _, count := range []int{small, large} {
		if err := e.grow(pop, count); err != nil {
			return err
		}
		for _, verb := range []string{"ADD", "DEL"} {
			s, err := e.strace(v.Plugin, Call{Cmd: verb, ContainerID: "prof-g", IfName: "net1", Netns: v.NS, Conf: v.Conf})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%4d %s, %s: %s\n", count, what, verb, s)
		}
	}
	e.teardown(pop)
	e.checkClean("profile "+what, []string{"pg0"}, append(pop.nses, n))
	return nil
}
