package main

import (
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/utils"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// invocation is everything a verb needs, parsed and validated once, with
// the backend chosen for the config.
type invocation struct {
	conf       *config.Config
	attachment plan.Attachment
	store      record.Store
	backend    backend.Backend
	others     []backend.Backend // opened for records of another backend
}

// load parses the config and the CNI_* arguments, names the master as the
// kernel does and chooses the backend.
func load(r *run) (*invocation, error) {
	inv, err := parse(r)
	if err != nil {
		return nil, err
	}
	resolveMaster(r, inv.conf)
	return inv, nil
}

// parse is load without the master's lookup, which DEL needs only when the
// attachment has no record (the record holds the master ADD resolved).
func parse(r *run) (*invocation, error) {
	conf, err := config.Parse(r.args.StdinData, r.args.Args)
	if err != nil {
		return nil, err
	}
	a, err := attachmentOf(r.args, conf.Name)
	if err != nil {
		return nil, err
	}
	if err := checkIPAM(r, conf); err != nil {
		return nil, err
	}
	return open(r, conf, a)
}

// resolveMaster names the master as the kernel does, before the policy,
// keys, locks and records see it: the kernel finds a link by any of its
// altnames, so a NAD naming eth1's altname and one naming eth1 share one
// chain, and must share its key, its lock and its users. A master that is
// not there, or that cannot be looked up now, stays as named: ADD refuses
// it when planning, DEL needs none.
func resolveMaster(r *run, conf *config.Config) {
	netns := r.args.Netns
	if conf.Backend != config.BackendKernel {
		return
	}
	where := ""
	if conf.LinkInContainer {
		if where = netns; where == "" {
			return
		}
	}
	names, found, err := netdev.ResolveLink(where, conf.Master)
	if err != nil || !found {
		return
	}
	if names.Name != conf.Master {
		r.note("master", fmt.Sprintf("%q is an altname of %q", conf.Master, names.Name))
	}
	conf.Master, conf.MasterAltNames = names.Name, names.AltNames
}

// checkIPAM refuses (code 7) an IPAM plugin the node does not allow or
// CNI_PATH lacks, and ipam keys outside the node's bounds: root runs IPAM
// with the config's ipam object.
func checkIPAM(r *run, conf *config.Config) error {
	if err := ipamAllowed(r, conf.IPAMType, conf.Raw); err != nil {
		return err
	}
	if err := findIPAM(conf.IPAMType, r.args.Path); err != nil {
		return cnierr.InvalidConfig("ipam.type", "%v", err)
	}
	return nil
}

// ipamAllowed is node.json's say (ipamTypes and the IPAM bounds) on an
// ipam object, asked before any verb runs IPAM: the one place it is decided.
func ipamAllowed(r *run, ipamType string, stdin []byte) error {
	return r.node.CheckIPAM(ipamType, stdin, record.Dir())
}

// open opens the state store and the backend for conf.
func open(r *run, conf *config.Config, a plan.Attachment) (*invocation, error) {
	if err := checkNodePaths(r.node, conf); err != nil {
		return nil, err
	}
	store, err := openStore()
	if err != nil {
		return nil, err
	}
	b, err := newBackend(conf.Backend, conf, store)
	if err != nil {
		return nil, err
	}
	return &invocation{conf: conf, attachment: a, store: store, backend: b}, nil
}

func openStore() (record.Store, error) {
	store, err := record.Open()
	if err != nil {
		return store, cnierr.Internal("open the state directory", err)
	}
	return store, nil
}

// attachmentOf validates the CNI_* variables that name the attachment.
func attachmentOf(args *skel.CmdArgs, network string) (plan.Attachment, error) {
	// The CNI spec's alphabet (libcni's own check, whose pattern is compiled
	// already); it also keeps record file names safe.
	if utils.ValidateContainerID(args.ContainerID) != nil {
		return plan.Attachment{}, cnierr.InvalidEnv("CNI_CONTAINERID", "%q: must be letters, digits, '_', '.' or '-'", args.ContainerID)
	}
	if err := config.ValidateIfName(args.IfName); err != nil {
		return plan.Attachment{}, err
	}
	// Checked before anything changes: with the host as "container", DEL
	// would delete host links and ADD would stack into the host.
	if args.Netns != "" && netdev.IsHostNS(args.Netns) {
		return plan.Attachment{}, cnierr.InvalidEnv("CNI_NETNS", "%q is the host's own network namespace", args.Netns)
	}
	return plan.Attachment{ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns, Network: network}, nil
}

// backendFor returns the backend that built p: the config's, or, for a
// record made under another mode, that mode's, without a config.
func (inv *invocation) backendFor(p plan.Plan) (backend.Backend, error) {
	if inv.conf != nil && p.Backend == inv.conf.Backend {
		return inv.backend, nil
	}
	b, err := newBackend(p.Backend, nil, inv.store)
	if err == nil {
		inv.others = append(inv.others, b)
	}
	return b, err
}

// close releases what the backends opened.
func (inv *invocation) close() {
	for _, b := range append(inv.others, inv.backend) {
		if b != nil {
			b.Close()
		}
	}
}

// findIPAM checks that the IPAM plugin exists in CNI_PATH, so a typo in
// ipam.type is refused before anything is built.
func findIPAM(ipamType, cniPath string) error {
	if ipamType == "" {
		return nil
	}
	if _, err := invoke.FindInPath(ipamType, filepath.SplitList(cniPath)); err != nil {
		return fmt.Errorf("%q: no such IPAM plugin in CNI_PATH %q", ipamType, cniPath)
	}
	return nil
}
