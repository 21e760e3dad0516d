// Package record keeps, in small files under /run, what the plugin built:
// one record per attachment (its plan, in a versioned format of its own,
// written before anything is made, so DEL and GC find everything even after
// a crash), and one entry per user of each shared link (so a shared link goes with its last user). Every verb
// touches a constant number of files, however many attachments the node
// holds. The files vanish at reboot together with the links they describe;
// no daemon is needed.
//
// Layout under the root directory:
//
//	store-id  this store's random identity, made with the root; it goes
//	          into the owner mark of every shared link (pkg/netdev)
//	<scope>/attachments/<network>/<containerID>:<ifName>  the attachment's record (format.go)
//	<scope>/attachments/<containerID>:<ifName>  a record of format 1 (read, never written)
//	<scope>/links/<link key>/<containerID>:<ifName>  empty: one user of a shared link
//	<scope>/locks/<master>.lock  flock held while a master's links change
//
// A scope is a network namespace: the runtime's own (host-<inode>) holds the
// attachment records and the users of the links beside its masters; a
// container's (ctr-<hash of its netns path>) holds the users of links built
// inside it (linkInContainer), and goes with its last user.
//
// Absence of a record is not evidence of absence: a root cleared by an
// admin, or another mount namespace's /run, has a new identity, and the
// links the old one marked are never judged by the new one's records.
package record

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/plan"
)

// DefaultDir is where state lives unless QINQ_STATE_DIR says otherwise.
const DefaultDir = "/run/qinq"

// Store is the state of the network namespace the plugin runs in.
type Store struct {
	dir, scope string
	// id is the store's identity, read or made on first use (a verb that
	// changes nothing leaves no state behind), shared by copies.
	id *identity
}

type identity struct {
	once sync.Once
	id   string
	err  error
}

// Dir is the state directory: QINQ_STATE_DIR, else DefaultDir.
func Dir() string {
	if d := os.Getenv("QINQ_STATE_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// Open returns the store of the calling thread's network namespace. Its
// directory and identity are made when first needed.
func Open() (Store, error) {
	scope, err := hostScope()
	if err != nil {
		return Store{}, err
	}
	return OpenAt(Dir(), scope), nil
}

// OpenAt returns the store of scope under dir.
func OpenAt(dir, scope string) Store { return Store{dir: dir, scope: scope, id: &identity{}} }

// At returns the store of scope under dir (tests).
func At(dir, scope string) Store { return OpenAt(dir, scope) }

// Identity is the store's identity, the one its links' owner marks carry,
// made with the state directory if it has none (see Identify).
func (s Store) Identity() (string, error) {
	if s.id == nil {
		return "", errors.New("a store opened without Open")
	}
	s.id.once.Do(func() { s.id.id, s.id.err = Identify(s.dir) })
	return s.id.id, s.id.err
}

// ID is Identity, "" when it cannot be read or made: then the store marks
// nothing and judges no link its own.
func (s Store) ID() string {
	id, _ := s.Identity()
	return id
}

// Dir is the store's state directory.
func (s Store) Dir() string { return s.dir }

// idFile holds the store's identity at the root.
const idFile = "store-id"

// Identify returns the identity of the store rooted at dir, making one
// first when there is none. A root without one is a fresh directory, or
// one a release before store identities wrote, or one whose identity was
// removed: in every case the links marked before are another store's. Two
// callers racing to make it agree: the identity is linked into place
// complete, and the loser reads the winner's.
func Identify(dir string) (string, error) {
	path := filepath.Join(dir, idFile)
	if id, err := readID(path); !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	id := hex.EncodeToString(b)
	tmp, err := os.CreateTemp(dir, "."+idFile+"-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id + "\n")
	if err = errors.Join(err, tmp.Close()); err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readID(path)
	} else if err != nil {
		return "", err
	}
	return id, nil
}

// readID reads and checks an identity: 16 hexadecimal digits.
func readID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(data))
	if _, err := hex.DecodeString(id); err != nil || len(id) != 16 {
		return "", fmt.Errorf("%s: %q is not a store identity (16 hexadecimal digits): remove it only after `qinq-admin scan`", path, id)
	}
	return id, nil
}

// hostScope names the namespace this thread runs in by its inode.
func hostScope() (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()), &st); err != nil {
		return "", fmt.Errorf("identify the host network namespace: %w", err)
	}
	return fmt.Sprintf("host-%d", st.Ino), nil
}

func (s Store) attachments() string { return filepath.Join(s.dir, s.scope, "attachments") }

// networkDir holds the records of one network: libcni keys an attachment
// by network, container ID and interface name, and so does the record. A
// network name that is not a safe file name (it comes from the config) is
// hashed; '~' keeps the two spellings apart.
func (s Store) networkDir(network string) string {
	if !safeName(network) {
		network = fmt.Sprintf("~%016x", fnv64(network))
	}
	return filepath.Join(s.attachments(), network)
}

func safeName(n string) bool {
	if n == "" || len(n) > 128 || !isAlnum(n[0]) {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !isAlnum(n[i]) && n[i] != '-' && n[i] != '_' && n[i] != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (s Store) recordFile(a plan.Attachment) string {
	return filepath.Join(s.networkDir(a.Network), a.ID())
}

// v1File is where format 1 kept a's record, with no network in its path.
func (s Store) v1File(a plan.Attachment) string { return filepath.Join(s.attachments(), a.ID()) }

// Put records p as the plan of its attachment, in the current format and
// atomically: a reader sees the old record or the new one, never half of one.
func (s Store) Put(p plan.Plan) error {
	data, err := encode(p)
	if err != nil {
		return err
	}
	// One temporary name per attachment: what a killed writer left is
	// overwritten by the next Put and removed by Drop.
	dir := s.networkDir(p.Attachment.Network)
	tmp := filepath.Join(dir, "."+p.Attachment.ID()+".tmp")
	for try := 0; ; try++ {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			err = writeNoFollow(tmp, data)
		}
		// A Drop of the network's last record may remove the directory
		// between the two: make it again.
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 3 {
			break
		}
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, s.recordFile(p.Attachment))
}

// Get returns the plan recorded for a, in whichever format it was written;
// found is false when there is none.
func (s Store) Get(a plan.Attachment) (p plan.Plan, found bool, err error) {
	p, found, err = readRecord(s.recordFile(a))
	if found || err != nil {
		return p, found, err
	}
	p, found, err = readRecord(s.v1File(a))
	if found && p.Attachment.Network != a.Network {
		return plan.Plan{}, false, nil // another network's attachment of the same pair
	}
	return p, found, err
}

func readRecord(path string) (plan.Plan, bool, error) {
	data, err := readNoFollow(path)
	if errors.Is(err, fs.ErrNotExist) {
		return plan.Plan{}, false, nil
	}
	if err != nil {
		return plan.Plan{}, false, fmt.Errorf("record %s: %w", path, err)
	}
	p, err := decode(data)
	if err != nil {
		return plan.Plan{}, false, fmt.Errorf("record %s: %w (%v)", path, ErrUnreadable, err)
	}
	return p, true, nil
}

// ErrUnreadable: a record is there but says nothing this release can read
// (damaged, or of a newer format). What its ADD built is unknown, which is
// not "nothing": callers must not take it for absence of users.
var ErrUnreadable = errors.New("unreadable record")

// Drop removes a's record, in either format; a record already gone is fine.
func (s Store) Drop(a plan.Attachment) error {
	tmp := filepath.Join(s.networkDir(a.Network), "."+a.ID()+".tmp")
	errs := []error{ignoreNotExist(os.Remove(s.recordFile(a))), ignoreNotExist(os.Remove(tmp))}
	if old, found, _ := readRecord(s.v1File(a)); found && old.Attachment.Network == a.Network {
		errs = append(errs, ignoreNotExist(os.Remove(s.v1File(a))))
	}
	// The network's directory goes with its last record (one rmdir).
	if err := os.Remove(s.networkDir(a.Network)); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		errs = append(errs, ignoreNotExist(err))
	}
	return errors.Join(errs...)
}

// List returns every plan recorded for network (GC), in either format.
// Unreadable records are reported but do not stop the walk.
func (s Store) List(network string) ([]plan.Plan, error) {
	current, err1 := listDir(s.networkDir(network), func(fs.DirEntry) bool { return true })
	v1, err2 := listDir(s.attachments(), func(e fs.DirEntry) bool { return !e.IsDir() })
	for _, p := range v1 {
		if p.Attachment.Network == network {
			current = append(current, p)
		}
	}
	return current, errors.Join(err1, err2)
}

// HeldByAnotherNetwork reports whether another network has a record of a's
// container ID and interface name: the link there is that attachment's.
func (s Store) HeldByAnotherNetwork(a plan.Attachment) bool {
	matches, _ := filepath.Glob(filepath.Join(s.attachments(), "*", a.ID()))
	for _, m := range matches {
		if m != s.recordFile(a) {
			return true
		}
	}
	if p, found, _ := readRecord(s.v1File(a)); found && p.Attachment.Network != a.Network {
		return true
	}
	return false
}

// ListAll returns the records of every network (qinq-admin).
func (s Store) ListAll() ([]plan.Plan, error) {
	out, err := listDir(s.attachments(), func(e fs.DirEntry) bool { return !e.IsDir() })
	errs := []error{err}
	dirs, _ := os.ReadDir(s.attachments())
	for _, d := range dirs {
		if d.IsDir() {
			ps, err := listDir(filepath.Join(s.attachments(), d.Name()), func(fs.DirEntry) bool { return true })
			out, errs = append(out, ps...), append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

func listDir(dir string, want func(fs.DirEntry) bool) ([]plan.Plan, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []plan.Plan
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !want(e) {
			continue
		}
		p, found, err := readRecord(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
		}
		if found {
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// Links returns the users of the shared links of p's chain: in the store's
// own scope, or in the container's when the chain is built in it.
func (s Store) Links(p plan.Plan) Links {
	if p.InContainer {
		return Links{dir: filepath.Join(s.dir, containerScope(p.Attachment.Netns)), container: true}
	}
	return s.HostLinks()
}

// HostLinks returns the users of the links beside the store's masters.
func (s Store) HostLinks() Links { return Links{dir: filepath.Join(s.dir, s.scope)} }

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

// Links records who uses which shared link in one namespace.
type Links struct {
	dir string
	// container: the scope is a container's and goes with its last user.
	container bool
}

// Lock takes the exclusive lock for master, waiting for other invocations
// that change the same master's links.
func (l Links) Lock(master string) (unlock func(), err error) { return l.lock(master, unix.LOCK_EX) }

// LockShared takes name's lock shared: holders run side by side, and keep
// out whoever takes it exclusively (an OVS bridge: ADDs between their veth
// and their port, against GC's sweep).
func (l Links) LockShared(name string) (unlock func(), err error) { return l.lock(name, unix.LOCK_SH) }

// lock flocks <dir>/locks/<name>.lock. The lock file may be removed by a
// holder (Forget removes a container's scope, locks and all): a waiter that
// then gets the flock of the removed file holds nothing, so it checks that
// the file it locked is still the one at the path, and starts over if not.
//
// A container's scope has one lock for all its masters, so that Forget,
// holding it, holds the whole scope.
func (l Links) lock(name string, how int) (unlock func(), err error) {
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

func (l Links) keyDir(key string) string { return filepath.Join(l.dir, "links", key) }

// Use records that a uses the shared link key. Callers hold the master's
// lock. The entry is an empty file: creating it is atomic.
func (l Links) Use(key string, a plan.Attachment) error {
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

// Release drops a's use of key and reports what is left. Callers hold the
// master's lock, as Use's callers do, so "unused" stays true until they let
// go. The key's directory is kept until Done: a DEL killed after Release
// and repeated must still find the link unused, not unknown.
func (l Links) Release(key string, a plan.Attachment) (Usage, error) {
	if err := os.Remove(filepath.Join(l.keyDir(key), a.ID())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Unknown, err
	}
	return l.Usage(key)
}

// Usage reports whether anybody uses key: it reads one directory entry,
// however many users the link has.
func (l Links) Usage(key string) (Usage, error) {
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
// gone (or kept as an admin's or another store's); a user that came
// meanwhile keeps it.
func (l Links) Done(key string) error {
	err := os.Remove(l.keyDir(key))
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// Ensure makes key's users' directory, empty if nobody uses it (an
// operator's adoption of a link with no user: then this store may judge it).
func (l Links) Ensure(key string) error { return os.MkdirAll(l.keyDir(key), 0o700) }

// Clear removes key's users' directory and its entries (an operator's
// clean-up of a link already deleted).
func (l Links) Clear(key string) error { return os.RemoveAll(l.keyDir(key)) }

// Uses reports whether a uses key.
func (l Links) Uses(key string, a plan.Attachment) bool {
	_, err := os.Stat(filepath.Join(l.keyDir(key), a.ID()))
	return err == nil
}

// Users lists the IDs of the attachments that use key (for messages).
func (l Links) Users(key string) ([]string, error) {
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
func (l Links) Forget() error {
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

// OwnNSPath is where qinq's own network namespace of this scope is bound
// (see netdev.OwnNS); LockOwnNS serialises its creation.
func (s Store) OwnNSPath() string { return filepath.Join(s.dir, s.scope, "netns") }

// LockOwnNS takes the lock under which the namespace at OwnNSPath is made
// (":" is in no link name, so no master's lock is this one).
func (s Store) LockOwnNS() (unlock func(), err error) { return s.HostLinks().Lock(":netns") }
