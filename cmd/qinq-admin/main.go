// Command qinq-admin is the operator's tool for shared links a lost store
// left behind: after /run/qinq was cleared, or when qinq ran in a mount
// namespace of its own (Multus thick without chrootDir), the links keep
// the mark of a store nobody has, and qinq keeps them forever rather than
// guess that they are unused. qinq-admin scans every network namespace for
// what stacks on such a link, then adopts it (marks it as the current
// store's, with a user entry per link stacked on it) or cleans it (deletes
// it when nothing stacks on it anywhere).
//
// Run it where the runtime runs qinq: in the host's network namespace and
// with the same state directory (QINQ_STATE_DIR, default /run/qinq).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

func init() { runtime.LockOSThread() } // the host's namespace is this thread's

const usage = `usage: qinq-admin COMMAND [LINK]

  list        the shared links qinq marked on this host: which stores use them,
              this store's identity and recorded users, and whether qinq may
              delete them by itself
  scan LINK   every link, in every network namespace, stacked on LINK or on a
              host link stacked on it
  adopt LINK  make LINK and the shared links stacked on it this store's: one user
              entry per pod link found on them (a pod's own record when this
              store has one, else "adopted.<netns inode>:<ifname>"); run it again
              to drop the entries of pods gone since
  clean LINK  delete LINK (qinq's, with everything stacked on it on the host) if
              nothing stacks on it that is not qinq's, no link in any other network
              namespace (qinq's own, where bridge uplinks live, included) stacks on
              it, and this store records no user of it; refuses otherwise. A link
              under qinq's temporary name (qq + 10 hex) is clean's only when it
              carries no alias or this store's mark alone (another store's is an
              ADD in the making)

qinq's own network namespace is opened by the store's path
($QINQ_STATE_DIR/host-<netns inode>/netns); if it exists but this mount
namespace does not see its mount, scan, adopt and clean refuse: run qinq-admin
in the node's mount namespace (nsenter -t 1 -m).

The state directory is $QINQ_STATE_DIR, else /run/qinq.
`

func main() {
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	flag.Parse()
	if err := run(os.Stdout, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "qinq-admin:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, args []string) error {
	if len(args) == 0 {
		flag.Usage()
		return errors.New("no command")
	}
	name := ""
	if len(args) == 2 {
		name = args[1]
	}
	a, err := openAdmin(name)
	if err != nil {
		return err
	}
	defer a.h.Close()
	if args[0] == "list" {
		return a.list(w)
	}
	if len(args) != 2 {
		return fmt.Errorf("%s needs one LINK", args[0])
	}
	switch args[0] {
	case "scan":
		return a.scan(w, args[1])
	case "adopt":
		return a.adopt(w, args[1])
	case "clean":
		return a.clean(w, args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

type admin struct {
	h     netlinksafe.Handle
	store record.Store
	links []netlink.Link
}

// openAdmin opens the store and netlink where the link name is: the node's
// namespace, or qinq's (enterChainNS).
func openAdmin(name string) (*admin, error) {
	store, err := record.Open()
	if err == nil {
		_, err = store.Identity()
	}
	if err != nil {
		return nil, fmt.Errorf("open the state directory %s: %w", record.Dir(), err)
	}
	if name != "" {
		if err := enterChainNS(store, name); err != nil {
			return nil, fmt.Errorf("enter qinq's network namespace: %w", err)
		}
	}
	h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	links, err := h.LinkList()
	if err != nil {
		h.Close()
		return nil, err
	}
	return &admin{h: h, store: store, links: links}, nil
}

func (a *admin) list(w io.Writer) error {
	fmt.Fprintf(w, "store %s at %s\n", a.store.ID(), a.store.Dir())
	users := a.store.HostUsers()
	chain, err := chainLinks(a.store)
	if err != nil {
		return fmt.Errorf("list qinq's network namespace: %w", err)
	}
	for _, l := range append(slices.Clone(a.links), chain...) {
		o, ok := netdev.OwnerOf(l)
		if !ok {
			continue
		}
		u, _ := users.Usage(o.Key)
		verdict := "kept: users in other stores cannot be known (adopt or clean it)"
		if o.OnlyBy(a.store.ID()) {
			verdict = "this store's"
		}
		fmt.Fprintf(w, "%s key=%s stores=%s users here: %s; %s\n", l.Attrs().Name, o.Key, strings.Join(o.Stores, ","), u, verdict)
	}
	return nil
}

// tree scans for what stacks on the host link name.
func (a *admin) tree(w io.Writer, name string) (tree, error) {
	l, err := a.h.LinkByName(name)
	if err != nil {
		return tree{}, fmt.Errorf("link %q: %w", name, err)
	}
	own, err := ownNamespace(a.store.OwnNS().Path)
	if err != nil {
		return tree{}, err
	}
	uppers, errs := scanUppers(a.h, a.links, own)
	for _, err := range errs {
		fmt.Fprintln(w, "warning:", err)
	}
	t := subtree(l, a.links, uppers)
	t.unscanned = len(errs)
	return t, nil
}

func (a *admin) scan(w io.Writer, name string) error {
	t, err := a.tree(w, name)
	if err != nil {
		return err
	}
	for _, h := range t.hosts {
		mark := "not qinq's"
		if o, ok := netdev.OwnerOf(h); ok {
			mark = "stores " + strings.Join(o.Stores, ",") + ", key " + o.Key
		}
		fmt.Fprintf(w, "%s (ifindex %d, %s)\n", h.Attrs().Name, h.Attrs().Index, mark)
		for _, u := range t.pods[h.Attrs().Index] {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	return nil
}

// adopt re-marks every owned host link of the tree as this store's alone
// and makes its users' directory say who is on it, under the master's lock
// taken whole (ADD, DEL and GC take it shared, then each link key's).
func (a *admin) adopt(w io.Writer, name string) error {
	t, err := a.tree(w, name)
	if err != nil {
		return err
	}
	owners := a.ownersByPod()
	users := a.store.HostUsers()
	var errs []error
	for _, h := range t.hosts {
		o, ok := netdev.OwnerOf(h)
		if !ok {
			continue // an admin's link: never qinq's to delete
		}
		master, _, _ := strings.Cut(o.Key, ":")
		unlock, err := users.Lock(master)
		if err != nil {
			return err
		}
		err = a.adoptOne(w, users, h, o, t.podsAbove(h), owners)
		unlock()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (a *admin) adoptOne(w io.Writer, users record.Users, h netlink.Link, o netdev.Owner, pods []upper, owners map[podKey]plan.Attachment) error {
	want := map[string]plan.Attachment{}
	for _, p := range pods {
		at, ok := owners[podKey{p.ns.ino, p.name}]
		if !ok {
			at = plan.Attachment{ContainerID: fmt.Sprintf("%s%d", adoptedPrefix, p.ns.ino), IfName: p.name}
		}
		want[at.ID()] = at
	}
	recorded, err := users.Of(o.Key)
	if err != nil {
		return err
	}
	for _, id := range recorded {
		if _, ok := want[id]; !ok && strings.HasPrefix(id, adoptedPrefix) {
			cid, ifName, _ := strings.Cut(id, ":")
			if _, err := users.Release(o.Key, plan.Attachment{ContainerID: cid, IfName: ifName}); err != nil {
				return err
			}
		}
	}
	for _, at := range want {
		if err := users.Use(o.Key, at); err != nil {
			return err
		}
	}
	if len(want) == 0 {
		// Nothing stacks on it: the users' directory exists and is empty,
		// and the next DEL or GC of this store deletes it.
		if err := users.Ensure(o.Key); err != nil {
			return err
		}
	}
	alias := netdev.Owner{Stores: []string{a.store.ID()}, Key: o.Key}.Alias()
	if err := a.h.LinkSetAlias(h, alias); err != nil {
		return fmt.Errorf("mark %s: %w", h.Attrs().Name, err)
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})
	fmt.Fprintf(w, "adopted %s (key %s) for store %s: %d users %v\n", h.Attrs().Name, o.Key, a.store.ID(), len(ids), ids)
	return nil
}

// adoptedPrefix starts the container ID of a user entry qinq-admin made for
// a pod link this store has no record of: no DEL ever drops it, the next
// adopt does once the link is gone.
const adoptedPrefix = "adopted."

type podKey struct {
	ino  uint64
	name string
}

// ownersByPod maps the store's records to where their links are.
func (a *admin) ownersByPod() map[podKey]plan.Attachment {
	plans, _ := a.store.ListAll()
	out := map[podKey]plan.Attachment{}
	for _, p := range plans {
		var st unix.Stat_t
		if p.Attachment.Netns == "" || unix.Stat(p.Attachment.Netns, &st) != nil {
			continue
		}
		out[podKey{st.Ino, p.Attachment.IfName}] = p.Attachment
	}
	return out
}
