package link

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/refs"
	"github.com/qinq-cni/qinq/pkg/stack"
)

// Collect is GC for one network: it detaches every attachment of network that
// keep rejects (as DEL would), then deletes the shared links qinq owns that
// nobody references any more (left by a crash). It returns the attachments
// it detached, keeps going after an error and reports all of them.
func (k Kernel) Collect(network string, keep func(refs.Attachment) bool) ([]refs.Attachment, error) {
	host, err := Open("", false, true)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	stale, err := k.staleAttachments(host.Scope, network, keep)
	errs := []error{err}
	var detached []refs.Attachment
	for _, ref := range stale {
		if err := k.detachRef(ref); err != nil {
			errs = append(errs, err)
			continue
		}
		detached = append(detached, ref.Attachment)
	}
	errs = append(errs, k.sweepOwned(host))
	return detached, errors.Join(errs...)
}

// staleAttachments returns, for each attachment of network that keep rejects,
// its reference with the longest key: the one that names its container link.
func (k Kernel) staleAttachments(hostScope, network string, keep func(refs.Attachment) bool) ([]refs.Ref, error) {
	scopes, err := k.Refs.Scopes()
	errs := []error{err}
	longest := map[string]refs.Ref{}
	for _, scope := range scopes {
		// Another host-* scope is another namespace's business (a test node,
		// a nested runtime); ctr-* scopes are containers' (linkInContainer).
		if scope != hostScope && !strings.HasPrefix(scope, "ctr-") {
			continue
		}
		list, err := k.Refs.List(scope)
		errs = append(errs, err)
		for _, r := range list {
			if r.Attachment.Network != network || keep(r.Attachment) {
				continue
			}
			id := scope + "/" + r.Attachment.ID()
			if cur, ok := longest[id]; !ok || len(r.Key) > len(cur.Key) {
				longest[id] = r
			}
		}
	}
	out := make([]refs.Ref, 0, len(longest))
	for _, r := range longest {
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

func (k Kernel) detachRef(r refs.Ref) error {
	inContainer := strings.HasPrefix(r.Scope, "ctr-")
	st, err := stack.FromKey(r.Key, r.Attachment.IfName, inContainer)
	if err != nil {
		return err
	}
	ends, err := Open(r.Attachment.Netns, inContainer, true)
	if err != nil {
		return err
	}
	defer ends.Close()
	ends.Scope = r.Scope
	if err := k.Detach(Request{Stack: st, Ends: ends, Attachment: r.Attachment}); err != nil {
		return fmt.Errorf("detach %s: %w", r.Attachment.ID(), err)
	}
	return nil
}

// sweepOwned deletes owned VLAN links on the host that nobody references.
// Under the parent's lock such a link can only be a leftover: ADD takes its
// reference under the same lock as it creates the link.
func (k Kernel) sweepOwned(e *Ends) error {
	links, err := e.Links.LinkList()
	if err != nil {
		return kernelError("list links", err)
	}
	byIndex := map[int]netlink.Link{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l
	}
	var errs []error
	for _, l := range links {
		if v, ok := l.(*netlink.Vlan); ok && owned(v) {
			errs = append(errs, k.deleteIfOrphan(e, v, byIndex))
		}
	}
	return errors.Join(errs...)
}

func (k Kernel) deleteIfOrphan(e *Ends, v *netlink.Vlan, byIndex map[int]netlink.Link) error {
	root, key := keyOfLink(v, byIndex)
	if root == "" {
		return nil
	}
	unlock, err := k.Refs.Lock(e.Scope, root)
	if err != nil {
		return err
	}
	defer unlock()
	users, err := k.Refs.Users(e.Scope, key)
	if err != nil || len(users) > 0 {
		return err
	}
	return ignoreGone(e.Links.LinkDel(v))
}

// keyOfLink walks a VLAN link's parents down to the root link and returns the
// root's name and the link's key, the same key a plan gives it.
func keyOfLink(v *netlink.Vlan, byIndex map[int]netlink.Link) (root, key string) {
	var tags []string
	var cur netlink.Link = v
	for {
		vl, ok := cur.(*netlink.Vlan)
		if !ok {
			break
		}
		tags = append([]string{stack.TagKey(vl.VlanProtocol, config.VID(vl.VlanId))}, tags...)
		if cur = byIndex[vl.ParentIndex]; cur == nil {
			return "", "" // parent in another namespace: not ours to judge
		}
	}
	return cur.Attrs().Name, cur.Attrs().Name + strings.Join(tags, "")
}
