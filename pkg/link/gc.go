package link

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

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
		if scope != hostScope && !strings.HasPrefix(scope, containerScopePrefix) {
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
	inContainer := strings.HasPrefix(r.Scope, containerScopePrefix)
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
	var errs []error
	for _, l := range links {
		if v, ok := l.(*netlink.Vlan); ok {
			errs = append(errs, k.deleteIfOrphan(e, v))
		}
	}
	return errors.Join(errs...)
}

// deleteIfOrphan judges a link by the key in its owner alias, the key its
// references are filed under and whose parent's lock ADD takes.
func (k Kernel) deleteIfOrphan(e *Ends, v *netlink.Vlan) error {
	key, ok := ownedKey(v)
	if !ok {
		// Still under its temporary name: its creator is running, or died
		// after writing its reference, which DEL or GC's detach then uses.
		return nil
	}
	parent, _, _ := strings.Cut(key, ":")
	unlock, err := k.Refs.Lock(e.Scope, parent)
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

// DetachRecorded detaches a the way its references describe it, which is
// how ADD built it whatever the config says now (an edited sVlan, narrowed
// allow-lists). It reports false when a holds no reference, in the host's
// scope nor in its container's.
func (k Kernel) DetachRecorded(a refs.Attachment) (bool, error) {
	host, err := hostScope()
	if err != nil {
		return false, err
	}
	for _, scope := range []string{host, containerScope(a.Netns)} {
		keys, err := k.Refs.KeysOf(scope, a)
		if err != nil || len(keys) == 0 {
			continue
		}
		longest := slices.MaxFunc(keys, func(x, y string) int { return len(x) - len(y) })
		return true, k.detachRef(refs.Ref{Scope: scope, Key: longest, Attachment: a})
	}
	return false, nil
}
