package record

// The users' registry: which attachments use which shared link (S-link,
// C-link, a bridge's uplink), one empty file per user under
// <scope>/links/<link key>/, and the locks under <scope>/locks/ that every
// change of users, and of the links themselves, is made under: a master's,
// held shared by the verbs and whole by qinq-admin, and below it one per
// link key (LockKey), so that pods of different chains never wait for
// each other.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/plan"
)

// Users returns the users of the shared links of p's chain: in the store's
// own scope, or in the container's when the chain is built in it.
func (s Store) Users(p plan.Plan) Users {
	if p.InContainer {
		return Users{dir: filepath.Join(s.dir, containerScope(p.Attachment.Netns)), container: true}
	}
	return s.HostUsers()
}

// HostUsers returns the users of the links beside the store's masters.
func (s Store) HostUsers() Users { return Users{dir: filepath.Join(s.dir, s.scope)} }

// containerScope names a container's scope by its netns path, so DEL finds
// the users even after the namespace is gone.
func containerScope(netnsPath string) string { return fmt.Sprintf("ctr-%016x", fnv64(netnsPath)) }

func fnv64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Users records who uses which shared link in one namespace.
type Users struct {
	dir string
	// container: the scope is a container's and goes with its last user.
	container bool
}

// Lock takes the exclusive lock for master, waiting for other invocations
// that change the same master's links: qinq-admin, which judges a link
// with every link stacked on it.
func (l Users) Lock(master string) (unlock func(), err error) { return l.lock(master, unix.LOCK_EX) }

// LockMaster takes master's lock as a verb does before any key's: shared,
// so that only qinq-admin (Lock) waits. A container's scope has one lock,
// taken whole here, which covers its keys.
func (l Users) LockMaster(master string) (unlock func(), err error) {
	if l.container {
		return l.lock("scope", unix.LOCK_EX)
	}
	return l.lock(master, unix.LOCK_SH)
}

// LockKeys takes master's lock (LockMaster), then each of keys whole, in
// the order given: callers give a chain's keys outermost first (they grow
// outward in), so two holders of several never wait in a cycle.
func (l Users) LockKeys(master string, keys ...string) (unlock func(), err error) {
	var held []func()
	unlock = func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i]()
		}
	}
	for i := -1; i < len(keys); i++ {
		var u func()
		if i < 0 {
			u, err = l.LockMaster(master)
		} else {
			u, err = l.LockKey(keys[i], false)
		}
		if err != nil {
			unlock()
			return nil, err
		}
		held = append(held, u)
	}
	return unlock, nil
}

// LockKey takes the lock of one shared link's key, under its master's
// (LockMaster): shared by ADDs that only join a link that is ready, whole
// to make, finish, judge or delete it. In a container's scope, LockMaster's
// lock already holds every key.
func (l Users) LockKey(key string, shared bool) (unlock func(), err error) {
	if l.container {
		return func() {}, nil
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	return l.lock(key, how)
}

// LockShared takes name's lock shared: holders run side by side, and keep
// out whoever takes it exclusively (an OVS bridge: ADDs between their veth
// and their port, against GC's sweep).
func (l Users) LockShared(name string) (unlock func(), err error) { return l.lock(name, unix.LOCK_SH) }

// lock flocks <dir>/locks/<name>.lock. The lock file may be removed by a
// holder (Forget removes a container's scope, locks and all): a waiter that
// then gets the flock of the removed file holds nothing, so it checks that
// the file it locked is still the one at the path, and starts over if not.
//
// A container's scope has one lock for all its masters, so that Forget,
// holding it, holds the whole scope.
func (l Users) lock(name string, how int) (unlock func(), err error) {
	if l.container {
		name = "scope"
	}
	path := filepath.Join(l.dir, "locks", name+".lock")
	for {
		f, err := openLock(path)
		if err != nil {
			return nil, err
		}
		for {
			err = unix.Flock(int(f.Fd()), how)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if current(f, path) {
			return func() { f.Close() }, nil // closing drops the flock
		}
		f.Close()
	}
}

func openLock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
}

// current reports whether f is still the file at path.
func current(f *os.File, path string) bool {
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(path, &now) != nil {
		return false
	}
	return held.Dev == now.Dev && held.Ino == now.Ino
}

func (l Users) keyDir(key string) string { return filepath.Join(l.dir, "links", key) }

// Use records that a uses the shared link key. Callers hold key's lock,
// shared at least. The entry is an empty file: creating it is atomic.
func (l Users) Use(key string, a plan.Attachment) error {
	dir := l.keyDir(key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, a.ID()), os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Usage is what the records say about the users of a shared link.
type Usage int

const (
	// Unknown: the link's users' directory does not exist; the users may
	// be recorded elsewhere (a lost or another store), so the link stays.
	Unknown Usage = iota
	// InUse: at least one user is recorded.
	InUse
	// Unused: the directory exists and is empty: nobody uses the link.
	Unused
)

func (u Usage) String() string { return [...]string{"unknown", "in use", "unused"}[u] }

// Release drops a's use of key and reports what is left. Callers hold
// key's lock whole, so "unused" stays true until they let go. The key's directory is kept until Done: a DEL killed after Release
// and repeated must still find the link unused, not unknown.
func (l Users) Release(key string, a plan.Attachment) (Usage, error) {
	if err := os.Remove(filepath.Join(l.keyDir(key), a.ID())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Unknown, err
	}
	return l.Usage(key)
}

// Usage reports whether anybody uses key: it reads one directory entry,
// however many users the link has.
func (l Users) Usage(key string) (Usage, error) {
	f, err := os.Open(l.keyDir(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Unknown, nil
	}
	if err != nil {
		return Unknown, err
	}
	defer f.Close()
	switch _, err := f.Readdirnames(1); {
	case errors.Is(err, io.EOF):
		return Unused, nil
	case err != nil:
		return Unknown, err
	}
	return InUse, nil
}

// Done removes the users' directory of an unused key, once the link is
// gone (or kept as an admin's or another store's), and the key's lock file,
// which its caller holds whole (a waiter notices: see lock); a user that
// came meanwhile keeps both.
func (l Users) Done(key string) error {
	err := os.Remove(l.keyDir(key))
	if err == nil && !l.container {
		err = os.Remove(filepath.Join(l.dir, "locks", key+".lock"))
	}
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// Ensure makes key's users' directory, empty if nobody uses it (an
// operator's adoption of a link with no user: then this store may judge it).
func (l Users) Ensure(key string) error { return os.MkdirAll(l.keyDir(key), 0o700) }

// Clear removes key's users' directory and its entries (an operator's
// clean-up of a link already deleted).
func (l Users) Clear(key string) error { return os.RemoveAll(l.keyDir(key)) }

// Uses reports whether a uses key.
func (l Users) Uses(key string, a plan.Attachment) bool {
	_, err := os.Stat(filepath.Join(l.keyDir(key), a.ID()))
	return err == nil
}

// Of lists the IDs of the attachments that use key (for messages).
func (l Users) Of(key string) ([]string, error) {
	entries, err := os.ReadDir(l.keyDir(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var ids []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids, err
}

// Forget removes a container scope once no link in it has a user: one
// directory per pod would otherwise pile up under /run. The host's scope
// is kept. Callers hold the scope's lock and do nothing under it after
// Forget: its file goes too, which every waiter notices (see lock).
func (l Users) Forget() error {
	if !l.container {
		return nil
	}
	keys, err := os.ReadDir(filepath.Join(l.dir, "links"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(keys) > 0 {
		return nil
	}
	return os.RemoveAll(l.dir)
}
