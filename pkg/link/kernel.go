package link

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/refs"
	"github.com/qinq-cni/qinq/pkg/stack"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// ownerAliasPrefix marks a shared link qinq created (IFLA_IFALIAS); the alias
// goes on with the link's key, which GC needs to find its references. Until
// the alias is set, the link's temporary name marks it. A shared link with
// neither was made by an admin: reused, never deleted.
const ownerAliasPrefix = "qinq-cni: owned, deleted with its last user; key="

// OwnerAlias is the alias of the owned shared link with the given key.
func OwnerAlias(key string) string { return ownerAliasPrefix + key }

// ownedKey returns the key recorded in an owned link's alias.
func ownedKey(l netlink.Link) (string, bool) {
	return strings.CutPrefix(l.Attrs().Alias, ownerAliasPrefix)
}

// Kernel builds stacks of kernel VLAN links.
type Kernel struct {
	Refs refs.Store
}

// Request is one attachment's stack and where it goes.
type Request struct {
	Stack      stack.Stack
	Ends       *Ends
	Attachment refs.Attachment
	MAC        net.HardwareAddr
}

// Attach builds r.Stack and returns the container link. Every change it makes
// is pushed on u, so a later failure of the ADD undoes it.
func (k Kernel) Attach(r Request, u *undo.Stack) (netlink.Link, error) {
	// Checked before anything changes: a repeated ADD of a live attachment
	// must not touch its references, nor roll them back.
	if _, err := r.Ends.Container.LinkByName(r.Stack.Container.Name); err == nil {
		return nil, cnierr.Conflict("CNI_IFNAME %q already exists in the container", r.Stack.Container.Name)
	}
	unlock, err := k.Refs.Lock(r.Ends.Scope, r.Stack.Parent.Name)
	if err != nil {
		return nil, cnierr.Internal("lock the parent's state", err)
	}
	defer unlock()
	// One undo releases the whole chain the way DEL does: it re-takes the lock
	// and deletes a shared link only if nobody else took it meanwhile.
	u.Push("release shared links", func() error { return k.release(r) })
	parent, err := k.attachShared(r)
	if err != nil {
		return nil, err
	}
	return k.attachContainer(r, parent, u)
}

// attachShared finds or creates each shared link and references it; it returns
// the ifindex the container link stacks on.
func (k Kernel) attachShared(r Request) (int, error) {
	parent, err := r.Ends.Links.LinkByName(r.Stack.Parent.Name)
	if err != nil {
		return 0, cnierr.InvalidConfig("master", "%q: no such link (%v)", r.Stack.Parent.Name, err)
	}
	idx := parent.Attrs().Index
	for _, l := range r.Stack.Shared {
		// The reference comes first: a link qinq makes is never unreferenced,
		// so a crash between the two steps leaves nothing DEL or GC can miss.
		if err := k.Refs.Add(r.Ends.Scope, l.Key, r.Attachment); err != nil {
			return 0, cnierr.Internal("record the reference on "+l.Name, err)
		}
		if err := fault.Point(fault.SharedRef); err != nil {
			return 0, cnierr.Internal("fault", err)
		}
		if idx, err = k.ensureShared(r.Ends.Links, idx, l); err != nil {
			return 0, err
		}
		if err := fault.Point(fault.SharedLink); err != nil {
			return 0, cnierr.Internal("fault", err)
		}
	}
	return idx, nil
}

// ensureShared returns the ifindex of the VLAN link l on parent, creating it if
// there is none. The kernel allows one VLAN link per (parent, protocol, ID), so
// an existing one is reused whoever made it.
func (k Kernel) ensureShared(h netlinksafe.Handle, parent int, l stack.Link) (int, error) {
	found, err := FindVLAN(h, parent, l.Proto, l.VID)
	if err != nil {
		return 0, err
	}
	switch {
	case found == nil:
		found, err = createShared(h, parent, l)
	case isTempName(found.Attrs().Name):
		found, err = finishShared(h, found, l) // an ADD died half-way through creating it
	}
	if err != nil {
		return 0, err
	}
	if found.Attrs().Flags&net.FlagUp == 0 {
		if err := retry(func() error { return h.LinkSetUp(found) }); err != nil {
			return 0, cnierr.Internal("set "+found.Attrs().Name+" up", err)
		}
	}
	return found.Attrs().Index, nil
}

// createShared makes a shared link so that it is recognisably qinq's at every
// instant, even if the process dies: the kernel takes no alias at creation,
// so the link is born under a temporary name (qinq's by construction), gets
// the owner alias, and only then takes its real name.
func createShared(h netlinksafe.Handle, parent int, l stack.Link) (netlink.Link, error) {
	v := newVLAN(tempName(), parent, l)
	if err := retry(func() error { return h.LinkAdd(v) }); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, cnierr.Conflict("%s VLAN %d on ifindex %d cannot be created: the kernel already has a link for it elsewhere "+
				"(a tunnel-mode container owns it, or it is in another namespace)", config.ProtoName(l.Proto), l.VID, parent)
		}
		return nil, kernelError("create "+l.Name, err)
	}
	created, err := h.LinkByName(v.Name)
	if err != nil {
		return nil, cnierr.Internal("find the new link "+v.Name, err)
	}
	found, err := finishShared(h, created, l)
	if err != nil {
		_ = h.LinkDel(created)
	}
	return found, err
}

// finishShared marks a shared link as owned and gives it its planned name
// (the alternative one when the first is taken by an unrelated link).
func finishShared(h netlinksafe.Handle, v netlink.Link, l stack.Link) (netlink.Link, error) {
	if err := retry(func() error { return h.LinkSetAlias(v, OwnerAlias(l.Key)) }); err != nil {
		return nil, kernelError("mark "+v.Attrs().Name+" as owned", err)
	}
	var err error
	for _, name := range []string{l.Name, l.AltName} {
		if err = retry(func() error { return h.LinkSetName(v, name) }); err == nil {
			return h.LinkByName(name)
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	return nil, kernelError("name the shared link "+l.Name, err)
}

// owned reports whether qinq made l: it carries the owner alias, or still has
// the temporary name it was born with.
func owned(l netlink.Link) bool {
	_, aliased := ownedKey(l)
	return aliased || isTempName(l.Attrs().Name)
}

func newVLAN(name string, parent int, l stack.Link) *netlink.Vlan {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.ParentIndex = parent
	attrs.MTU = l.MTU
	return &netlink.Vlan{LinkAttrs: attrs, VlanId: int(l.VID), VlanProtocol: l.Proto}
}

// attachContainer creates the innermost link under a temporary name directly
// in the container namespace, renames it to CNI_IFNAME there and sets it up.
func (k Kernel) attachContainer(r Request, parent int, u *undo.Stack) (netlink.Link, error) {
	l, c := r.Stack.Container, r.Ends.Container
	if err := k.Refs.Add(r.Ends.Scope, l.Key, r.Attachment); err != nil {
		return nil, cnierr.Internal("record the container link", err)
	}
	if err := fault.Point(fault.ContainerRef); err != nil {
		return nil, cnierr.Internal("fault", err)
	}
	v := newVLAN(tempName(), parent, l)
	v.HardwareAddr = r.MAC
	if !r.Stack.InContainer {
		v.Namespace = netlink.NsFd(int(r.Ends.ContainerNS.Fd()))
	}
	if err := retry(func() error { return r.Ends.Links.LinkAdd(v) }); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, k.inUse(r, parent)
		}
		return nil, kernelError("create the container link", err)
	}
	created, err := c.LinkByName(v.Name)
	if err != nil {
		return nil, cnierr.Internal("find the new container link", err)
	}
	u.Push("delete container link", func() error { return ignoreGone(c.LinkDel(created)) })
	if err := fault.Point(fault.ContainerLink); err != nil {
		return nil, cnierr.Internal("fault", err)
	}
	if err := retry(func() error { return c.LinkSetName(created, l.Name) }); err != nil {
		return nil, kernelError("rename the container link to "+l.Name, err)
	}
	if err := retry(func() error { return c.LinkSetUp(created) }); err != nil {
		return nil, kernelError("set "+l.Name+" up", err)
	}
	if err := fault.Point(fault.Renamed); err != nil {
		return nil, cnierr.Internal("fault", err)
	}
	return c.LinkByName(l.Name)
}

// inUse explains an EEXIST on the container link: which VLAN, on which
// parent, and which attachment holds it when qinq made it.
func (k Kernel) inUse(r Request, parent int) error {
	l := r.Stack.Container
	on := fmt.Sprintf("ifindex %d", parent)
	if p, err := r.Ends.Links.LinkByIndex(parent); err == nil {
		on = p.Attrs().Name
	}
	holder := "another container"
	users, _ := k.Refs.Users(r.Ends.Scope, l.Key)
	for _, id := range users {
		if id != r.Attachment.ID() {
			holder = "attachment " + id
		}
	}
	return cnierr.Conflict("%s VLAN %d on %s is already used by %s (the kernel allows one link per VLAN ID on a parent)",
		config.ProtoName(l.Proto), l.VID, on, holder)
}

// Detach removes the container link and releases the shared links. Whatever
// is already gone (netns, links, master, references) is skipped: DEL succeeds
// when there is nothing left to delete.
func (k Kernel) Detach(r Request) error {
	// Only with its reference: the reference is written before the link is
	// made, so without one the link in CNI_IFNAME's place is someone else's.
	if r.Ends.Container != nil && k.Refs.Has(r.Ends.Scope, r.Stack.Container.Key, r.Attachment) {
		if err := deleteContainerLink(*r.Ends.Container, r.Stack.Container); err != nil {
			return err
		}
	}
	return k.release(r)
}

// deleteContainerLink deletes CNI_IFNAME, or the link still under its
// temporary name if an ADD died before the rename, but only if it is the VLAN
// link qinq would have made: an interface someone else put there is left alone.
func deleteContainerLink(c netlinksafe.Handle, l stack.Link) error {
	links, err := c.LinkList()
	if err != nil {
		return kernelError("list the container's links", err)
	}
	var errs []error
	for _, got := range links {
		v, ok := got.(*netlink.Vlan)
		if !ok || v.VlanId != int(l.VID) || v.VlanProtocol != l.Proto {
			continue
		}
		if v.Name == l.Name || isTempName(v.Name) {
			errs = append(errs, ignoreGone(retry(func() error { return c.LinkDel(v) })))
		}
	}
	return errors.Join(errs...)
}

// release drops the attachment's references, innermost first, and deletes
// each link of the chain qinq owns once nobody uses it. The whole chain is
// walked, not only the shared part: a stack rebuilt from the references of a
// crashed ADD may take its last shared link for the container link. The
// container link itself is never found here (it lives in the container) or
// is not owned (linkInContainer), so it is left to deleteContainerLink.
func (k Kernel) release(r Request) error {
	unlock, err := k.Refs.Lock(r.Ends.Scope, r.Stack.Parent.Name)
	if err != nil {
		return cnierr.Internal("lock the parent's state", err)
	}
	defer unlock()
	links := r.Stack.Links()
	found := k.resolve(r, links)
	var errs []error
	for i := len(links) - 1; i >= 0; i-- {
		if err := k.Refs.Remove(r.Ends.Scope, links[i].Key, r.Attachment); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, k.deleteIfUnused(r, links[i], found[i]))
	}
	errs = append(errs, k.Refs.SweepParent(r.Ends.Scope, r.Stack.Parent.Name))
	if err := errors.Join(errs...); err != nil {
		return cnierr.Internal("release shared links", err)
	}
	if strings.HasPrefix(r.Ends.Scope, containerScopePrefix) {
		// A container's scope dies with its last reference, or one
		// directory per pod would pile up under /run.
		return k.Refs.RemoveScopeIfUnused(r.Ends.Scope)
	}
	return nil
}

func (k Kernel) deleteIfUnused(r Request, l stack.Link, found netlink.Link) error {
	if found == nil || !owned(found) {
		return nil // gone, or an admin's link: never ours to delete
	}
	users, err := k.Refs.Users(r.Ends.Scope, l.Key)
	if err != nil || len(users) > 0 {
		return err
	}
	return ignoreGone(retry(func() error { return r.Ends.Links.LinkDel(found) }))
}

// resolve finds which of links exist in the links' namespace, outermost
// first; a missing one (and so everything above it) is nil.
func (k Kernel) resolve(r Request, links []stack.Link) []netlink.Link {
	chain := make([]netlink.Link, len(links))
	if !r.Ends.HasLinks() {
		return chain
	}
	parent, err := r.Ends.Links.LinkByName(r.Stack.Parent.Name)
	if err != nil {
		return chain
	}
	idx := parent.Attrs().Index
	for i, l := range links {
		found, err := FindVLAN(r.Ends.Links, idx, l.Proto, l.VID)
		if err != nil || found == nil {
			break
		}
		chain[i], idx = found, found.Attrs().Index
	}
	return chain
}

// FindVLAN returns the VLAN link on parent with the given protocol and ID, or
// nil if there is none in h's namespace.
func FindVLAN(h netlinksafe.Handle, parent int, proto netlink.VlanProtocol, vid config.VID) (netlink.Link, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, kernelError("list links", err)
	}
	for _, l := range links {
		v, ok := l.(*netlink.Vlan)
		if ok && v.ParentIndex == parent && v.VlanProtocol == proto && v.VlanId == int(vid) {
			return v, nil
		}
	}
	return nil, nil
}

func ignoreGone(err error) error {
	var lnf netlink.LinkNotFoundError
	if err == nil || errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// kernelError maps a kernel answer to the CNI code a runtime can act on.
func kernelError(what string, err error) error {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), strings.Contains(err.Error(), "operation not supported"):
		return cnierr.Unavailable("%s: the kernel cannot make VLAN links (is the 8021q module available?): %v", what, err)
	case transient(err):
		return cnierr.TryAgain(fmt.Errorf("%s: %w", what, err))
	}
	return cnierr.Internal(what, err)
}

// retryAttempts bounds retry: about 150 ms of backoff in all.
const retryAttempts = 5

// retry runs a netlink change again while the kernel answers with a transient
// error; what still fails after that becomes code 11 in kernelError.
func retry(change func() error) error {
	var err error
	for attempt := 1; attempt <= retryAttempts; attempt++ {
		if err = change(); !transient(err) {
			return err
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
	return err
}

func transient(err error) bool {
	return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}
