// Package kernel is the kernel backend: it stacks VLAN links on a master
// (the shared chain on the master's side, found or created and shared by
// every attachment with the same outer tags) and creates the container's
// own link directly in the container.
package kernel

import (
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// Backend builds kernel attachments for one network configuration.
type Backend struct {
	conf  *config.Config
	store record.Store
	// open are the namespaces of the attachment at hand, opened once.
	open    *netdev.Namespaces
	openFor string
	// own is qinq's own network namespace, where bridges live; opened once.
	own *netdev.Own
	// offers: what STATUS found, for its log line.
	offers []any
}

// New returns the kernel backend for conf; conf may be nil when only
// recorded plans are detached.
func New(conf *config.Config, store record.Store) *Backend {
	return &Backend{conf: conf, store: store}
}

// Close releases the namespaces' handles.
func (b *Backend) Close() {
	if b.own != nil {
		b.own.Close()
		b.own = nil
	}
	b.closeOpen()
}

func (b *Backend) closeOpen() {
	if b.open != nil {
		b.open.Close()
		b.open = nil
	}
}

// namespaces opens (once per attachment) the namespaces p's links live in.
// With tolerant (DEL) a missing container netns is not an error.
func (b *Backend) namespaces(netns string, inContainer, tolerant bool) (*netdev.Namespaces, error) {
	key := netns
	if inContainer {
		key = "ctr:" + netns
	}
	if b.open != nil && b.openFor == key && (tolerant || b.open.Container != nil) {
		return b.open, nil
	}
	b.closeOpen()
	n, err := netdev.Open(netns, inContainer, tolerant)
	if err != nil {
		return nil, err
	}
	if !inContainer {
		// Chain links live in qinq's namespace, made when a link is to be
		// made there and not before.
		if n.Own, err = b.ownNS(false); err != nil {
			n.Close()
			return nil, err
		}
		n.MakeOwn = func() (*netdev.Own, error) { return b.ownNS(true) }
	}
	b.open, b.openFor = n, key
	return n, nil
}

// Plan reads the master's MTU where the chain will live and plans a.
func (b *Backend) Plan(a plan.Attachment) (plan.Plan, error) {
	n, err := b.namespaces(a.Netns, b.conf.LinkInContainer, false)
	if err != nil {
		return plan.Plan{}, err
	}
	where := "the host network namespace"
	if b.conf.LinkInContainer {
		where = "the container network namespace (linkInContainer)"
	}
	if !n.HasLinks() {
		return plan.Plan{}, cnierr.InvalidConfig("master", "%q: %s is gone", b.conf.Master, where)
	}
	master, err := n.Master(b.conf.Master)
	if err != nil {
		return plan.Plan{}, cnierr.InvalidConfig("master", "%q: no such link in %s", b.conf.Master, where)
	}
	m := master.Link
	found, err := foundMTUs(n, m, b.conf, a)
	if err != nil {
		return plan.Plan{}, err
	}
	return plan.ForFound(b.conf, a, m.Attrs().MTU, found)
}

// foundMTUs reads the MTUs of the chain's links that exist already, under
// their planned names (one request each), outermost first: the endpoint is
// planned from the link it will really stack on.
func foundMTUs(n *netdev.Namespaces, master netlink.Link, c *config.Config, a plan.Attachment) ([]int, error) {
	draft, err := plan.For(c, a, 0)
	if err != nil {
		return nil, err
	}
	var found []int
	parent := netdev.At{Link: master, H: n.Links}
	for _, l := range draft.Chain {
		f, err := n.Find(parent, l, false)
		if err != nil || !f.Found() {
			return found, err
		}
		found, parent = append(found, f.Attrs().MTU), f
	}
	return found, nil
}
