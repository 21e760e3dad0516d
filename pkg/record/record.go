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
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/netdev"
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

// OwnNS is where this scope keeps qinq's own network namespace (see
// netdev.OwnNSHome): bound at <scope>/netns, made under the lock
// <scope>/locks/:netns.lock (":" is in no link name, and a link key starts
// with its master's, so no master's or key's lock is this one).
func (s Store) OwnNS() netdev.OwnNSHome {
	return netdev.OwnNSHome{Path: filepath.Join(s.dir, s.scope, "netns"), Lock: func() (func(), error) { return s.HostUsers().Lock(":netns") }}
}
