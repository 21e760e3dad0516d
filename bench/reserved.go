package main

import (
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/userns"
)

// Reserved is item 7: what the filter of reserved 802.1 frames costs. A
// chain link pays the filter once, when it is made (FilterAdd: the clsact
// qdisc and the flower filter); an ADD that joins a chain reads the filter
// of each chain link it finds (FilterRead). The data path is UDP in 64-byte
// datagrams through qinq's bridge (S 100, C 10) with the filters and,
// alternately in the same rounds, with every clsact qdisc removed.
type Reserved struct {
	FilterAddMs  []float64 `json:"filterAddMs"`
	FilterReadMs []float64 `json:"filterReadMs"`
	PPSWith      []float64 `json:"ppsWithFilter"`
	PPSWithout   []float64 `json:"ppsWithoutFilter"`
	// UserNSCheckMs: the other check isolation adds to an ADD, whether
	// the pod's network namespace has a user namespace of its own
	// (userns.Below, on one that has: a child of the bench's).
	UserNSCheckMs []float64 `json:"userNSCheckMs"`
	// HostLinkMs: the five per-link settings (IsolateHostLink) every link
	// qinq makes gets, written in a namespace of its own as in qinq's.
	HostLinkMs []float64 `json:"hostLinkSettingsMs"`
}

// udpPayload is the datagram size of the packet-rate rounds.
const udpPayload = 64

func runReserved(e *Env, p params) (Reserved, error) {
	var r Reserved
	if err := r.measureRequests(p.latencyRounds * 5); err != nil {
		return r, err
	}
	if err := r.measureUserNSCheck(p.latencyRounds * 5); err != nil {
		return r, err
	}
	if err := r.measureHostLink(p.latencyRounds * 5); err != nil {
		return r, err
	}
	return r, r.measurePPS(e, p)
}

// measureRequests times, n times, the filter on a new VLAN link (made as a
// chain link is: down, in this namespace) and the read of it.
func (r *Reserved) measureRequests(n int) error {
	if err := dummy("rsv0"); err != nil {
		return err
	}
	defer removeLinks("rsv0")
	m, err := netlink.LinkByName("rsv0")
	if err != nil {
		return err
	}
	h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	for i := 0; i < n; i++ {
		v := netdev.NewVLAN("rsv0.100", m.Attrs().Index, plan.Tag{Proto: netlink.VLAN_PROTOCOL_8021AD, VID: 100}, 1500)
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("add rsv0.100: %w", err)
		}
		l, err := netlink.LinkByName("rsv0.100")
		if err == nil {
			err = r.timeOne(h, l)
		}
		_ = netlink.LinkDel(v)
		if err != nil {
			return err
		}
	}
	return nil
}

// measureUserNSCheck times userns.Below n times on the network namespace
// of a child in a user namespace of its own (root mapped to root, as
// nsattack's nested one): the check an ADD makes when the policy requires
// it.
func (r *Reserved) measureUserNSCheck(n int) error {
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL,
		UidMappings: ids, GidMappings: ids}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("a child in a user namespace of its own: %w", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	path := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := userns.Below(path); err != nil {
			return fmt.Errorf("userns.Below(%s): %w", path, err)
		}
		r.UserNSCheckMs = append(r.UserNSCheckMs, ms(time.Since(t)))
	}
	return nil
}

// measureHostLink times, n times, the host-link settings on a new link
// (down) in a namespace of its own, entered as qinq enters its own.
func (r *Reserved) measureHostLink(n int) error {
	nses, err := newNSes(1)
	defer closeNSes(nses)
	if err != nil {
		return err
	}
	own := nses[0]
	h, err := netlink.NewHandleAt(netns.NsHandle(own.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	for i := 0; i < n; i++ {
		d := &netlink.Dummy{LinkAttrs: netlink.NewLinkAttrs()}
		d.Name = "hls0"
		if err := h.LinkAdd(d); err != nil {
			return fmt.Errorf("add hls0: %w", err)
		}
		t := time.Now()
		err := own.Do(func(ns.NetNS) error { return netdev.IsolateHostLink(d.Name) })
		r.HostLinkMs = append(r.HostLinkMs, ms(time.Since(t)))
		_ = h.LinkDel(d)
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Reserved) timeOne(h netlinksafe.Handle, l netlink.Link) error {
	t := time.Now()
	if err := netdev.FilterReserved(nil, l.Attrs().Index, netdev.DropReserved); err != nil {
		return err
	}
	r.FilterAddMs = append(r.FilterAddMs, ms(time.Since(t)))
	t = time.Now()
	if _, found, err := netdev.ReservedOf(h, l); err != nil || !found {
		return errors.Join(err, fmt.Errorf("the filter just made on %s is not found", l.Attrs().Name))
	}
	r.FilterReadMs = append(r.FilterReadMs, ms(time.Since(t)))
	return nil
}

// measurePPS attaches a qinq bridge pod on each end of a wire and runs the
// rounds, each with and without the filters, in alternating order.
func (r *Reserved) measurePPS(e *Env, p params) error {
	defer removeLinks("dl0", "dl1")
	if err := wire("dl0", "dl1"); err != nil {
		return err
	}
	pp := &pathPair{DataPath: DataPath{Mode: "reserved"}, plugin: e.Qinq}
	for end := 0; end < 2; end++ {
		pp.ips[end] = fmt.Sprintf("10.50.9.%d", end+1)
		pp.confs[end] = conf(map[string]any{"type": "qinq", "name": "dp-reserved", "containerLink": "bridge",
			"master": fmt.Sprintf("dl%d", end), "sVlan": 100, "cVlans": []int{10}, "ipam": staticIPAM(pp.ips[end] + "/24")})
	}
	nses, err := newNSes(2)
	defer closeNSes(nses)
	if err != nil {
		return err
	}
	pp.nses = [2]ns.NetNS{nses[0], nses[1]}
	if err := e.attachPair(pp); err != nil {
		return err
	}
	defer e.detachPair(pp)
	for round := 0; round < p.iperfRounds; round++ {
		for i := 0; i < 2; i++ {
			if err := r.ppsRound(e, pp, p.iperfSeconds, (round+i)%2 == 0); err != nil {
				e.problem("reserved: %v", err)
			}
		}
	}
	return nil
}

// ppsRound measures once with the filters in place, or without them (and
// puts them back after).
func (r *Reserved) ppsRound(e *Env, pp *pathPair, seconds int, filtered bool) error {
	if !filtered {
		removed, err := removeFilters(e)
		if err != nil {
			return err
		}
		defer func() {
			for _, f := range removed {
				if err := f(); err != nil {
					e.problem("reserved: put the filter back: %v", err)
				}
			}
		}()
	}
	mbps, err := iperf(pp.nses, pp.ips[1], seconds, "-u", "-b", "0", "-l", fmt.Sprint(udpPayload))
	if err != nil {
		return err
	}
	pps := mbps * 1e6 / 8 / udpPayload
	if filtered {
		r.PPSWith = append(r.PPSWith, pps)
	} else {
		r.PPSWithout = append(r.PPSWithout, pps)
	}
	return nil
}

// removeFilters removes the clsact qdiscs that hold the reserved filters in
// the node's and qinq's namespaces, and returns what puts each back.
func removeFilters(e *Env) (restore []func() error, err error) {
	paths, _ := filepath.Glob(filepath.Join(e.StateDir, "host-*", "netns"))
	for _, path := range append([]string{""}, paths...) {
		fs, err := stripIn(path)
		if err != nil {
			return restore, err
		}
		restore = append(restore, fs...)
	}
	return restore, nil
}

// openNS opens the namespace at path; "" is this one (nil).
func openNS(path string) (ns.NetNS, netlinksafe.Handle, error) {
	if path == "" {
		h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
		return nil, h, err
	}
	n, err := ns.GetNS(path)
	if err != nil {
		return nil, netlinksafe.Handle{}, err
	}
	h, err := netlinksafe.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		n.Close()
	}
	return n, h, err
}

// stripIn deletes the reserved filters' qdiscs in the namespace at path.
func stripIn(path string) ([]func() error, error) {
	n, h, err := openNS(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if n != nil {
		defer n.Close()
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []func() error
	for _, l := range links {
		r, found, err := netdev.ReservedOf(h, l)
		if err != nil || !found {
			continue
		}
		q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_CLSACT, Handle: netlink.MakeHandle(0xffff, 0)}}
		if err := h.QdiscDel(q); err != nil {
			return out, fmt.Errorf("remove the clsact of %s: %w", l.Attrs().Name, err)
		}
		idx := l.Attrs().Index
		out = append(out, func() error {
			w, h, err := openNS(path)
			if err != nil {
				return err
			}
			defer h.Close()
			if w != nil {
				defer w.Close()
			}
			return netdev.FilterReserved(w, idx, r)
		})
	}
	return out, nil
}

// reservedRatios: the filter's share of an ADD that makes a chain link (or
// joins one), and the packet rate with it over without it.
func (r *Report) reservedRatios(lat map[string]Latency) []Ratio {
	none := math.NaN()
	rs := r.Reserved
	pps := mkRatio("reserved.pps", "UDP 64 B packets/s through qinq's bridge, with / without the filter (median of rounds)",
		median(rs.PPSWith), median(rs.PPSWithout), "pkt/s", none, "")
	pps.Value = Num(pairedRatio(rs.PPSWith, rs.PPSWithout))
	return []Ratio{
		mkRatio("reserved.add", "the filter a new chain link gets / ADD p50, qinq [10] (makes its chain)",
			median(rs.FilterAddMs), lat["qinq"].Add.P50, "ms", none, ""),
		mkRatio("reserved.read", "the read of one found chain link's filter / ADD p50, qinq [10] (makes its chain)",
			median(rs.FilterReadMs), lat["qinq"].Add.P50, "ms", none, ""),
		mkRatio("isolation.userns", "the user-namespace check (userns.Below) / ADD p50, qinq [10] (makes its chain)",
			median(rs.UserNSCheckMs), lat["qinq"].Add.P50, "ms", none, ""),
		mkRatio("isolation.hostlink", "the host-link settings of one link qinq makes (5 sysctls in its namespace) / ADD p50, qinq [10] (makes its chain)",
			median(rs.HostLinkMs), lat["qinq"].Add.P50, "ms", none, ""),
		pps,
	}
}
