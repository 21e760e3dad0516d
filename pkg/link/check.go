package link

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/stack"
)

// Check verifies the attachment is what r.Stack says: the container link is a
// VLAN link with the planned protocol, ID and MTU, stacked on the planned
// chain of shared links down to the master, and its references are recorded.
func (k Kernel) Check(r Request) error {
	want := r.Stack.Container
	if r.Ends.Container == nil {
		return cnierr.CheckFailed("the container network namespace is gone")
	}
	got, err := r.Ends.Container.LinkByName(want.Name)
	if err != nil {
		return cnierr.CheckFailed("%s: not found in the container", want.Name)
	}
	v, ok := got.(*netlink.Vlan)
	if !ok {
		return cnierr.CheckFailed("%s: is a %q link, expected a VLAN link", want.Name, got.Type())
	}
	if err := sameVLAN(v, want); err != nil {
		return err
	}
	parent, err := k.expectedParent(r)
	if err != nil {
		return err
	}
	if v.ParentIndex != parent.Attrs().Index {
		actual := fmt.Sprintf("ifindex %d", v.ParentIndex)
		if l, err := r.Ends.Links.LinkByIndex(v.ParentIndex); err == nil {
			actual = fmt.Sprintf("%s (ifindex %d)", l.Attrs().Name, v.ParentIndex)
		}
		return cnierr.CheckFailed("%s: stacked on %s, expected %s (ifindex %d)",
			want.Name, actual, parent.Attrs().Name, parent.Attrs().Index)
	}
	return k.checkRefs(r)
}

func sameVLAN(v *netlink.Vlan, want stack.Link) error {
	switch {
	case v.VlanProtocol != want.Proto:
		return cnierr.CheckFailed("%s: protocol %s, expected %s", want.Name, v.VlanProtocol, config.ProtoName(want.Proto))
	case v.VlanId != int(want.VID):
		return cnierr.CheckFailed("%s: VLAN ID %d, expected %d", want.Name, v.VlanId, want.VID)
	case v.MTU != want.MTU:
		return cnierr.CheckFailed("%s: MTU %d, expected %d", want.Name, v.MTU, want.MTU)
	}
	return nil
}

// expectedParent resolves the chain master -> S-link -> outer C-links and
// returns the link the container link must sit on.
func (k Kernel) expectedParent(r Request) (netlink.Link, error) {
	if !r.Ends.HasLinks() {
		return nil, cnierr.CheckFailed("the namespace holding master %q is gone", r.Stack.Parent.Name)
	}
	master, err := r.Ends.Links.LinkByName(r.Stack.Parent.Name)
	if err != nil {
		return nil, cnierr.CheckFailed("master %q: not found", r.Stack.Parent.Name)
	}
	chain := k.resolve(r, r.Stack.Shared)
	for i, l := range r.Stack.Shared {
		if chain[i] == nil {
			return nil, cnierr.CheckFailed("shared link for %s VLAN %d (%s) is missing", config.ProtoName(l.Proto), l.VID, l.Key)
		}
	}
	if n := len(chain); n > 0 {
		return chain[n-1], nil
	}
	return master, nil
}

func (k Kernel) checkRefs(r Request) error {
	for _, l := range r.Stack.Links() {
		if !k.Refs.Has(r.Ends.Scope, l.Key, r.Attachment) {
			return cnierr.CheckFailed("no reference recorded for %s in %s: the shared link could be deleted under this container", l.Key, k.Refs.Dir)
		}
	}
	return nil
}
