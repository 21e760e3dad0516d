// Package refs records which attachments use which shared link, so a shared
// S-link is deleted only when its last user leaves. State lives in small files
// under /run: they vanish at reboot together with the links they describe, and
// no daemon is needed.
//
// Layout under Dir:
//
//	<scope>/locks/<parent>.lock           flock held while a parent's links change
//	<scope>/links/<link key>/<attachment> one file per user of a shared link
//
// A scope is the network namespace the links live in (the host, or a
// container for linkInContainer), so two namespaces never share references.
package refs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultDir is where state lives unless QINQ_STATE_DIR says otherwise.
const DefaultDir = "/run/qinq"

// Store is the reference store rooted at Dir.
type Store struct{ Dir string }

// Default returns the store the plugin uses.
func Default() Store {
	if d := os.Getenv("QINQ_STATE_DIR"); d != "" {
		return Store{Dir: d}
	}
	return Store{Dir: DefaultDir}
}

// Attachment is one (container, interface) pair: the unit of CNI.
type Attachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
	Netns       string `json:"netns,omitempty"`
	Network     string `json:"network,omitempty"`
}

// ID names the attachment's reference file. ':' is allowed neither in a
// container ID nor in an interface name, so two attachments never share one.
func (a Attachment) ID() string { return a.ContainerID + ":" + a.IfName }

// Lock takes the exclusive lock for parent in scope, waiting for other
// invocations that change the same parent's links.
func (s Store) Lock(scope, parent string) (unlock func(), err error) {
	dir := filepath.Join(s.Dir, scope, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, parent+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing drops the flock
}

func (s Store) linkDir(scope, key string) string {
	return filepath.Join(s.Dir, scope, "links", key)
}

// Add records that a uses the shared link key.
func (s Store) Add(scope, key string, a Attachment) error {
	dir := s.linkDir(scope, key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	// rename is atomic: a reader never sees half a reference.
	return os.Rename(tmp.Name(), filepath.Join(dir, a.ID()))
}

// Remove drops a's reference on key; a reference already gone is fine.
// Callers hold the parent's lock, as Add's do, so a temporary file found here
// is what a writer killed mid-Add left: it goes too.
func (s Store) Remove(scope, key string, a Attachment) error {
	dir := s.linkDir(scope, key)
	err := os.Remove(filepath.Join(dir, a.ID()))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(leftovers) > 0 {
		for _, f := range leftovers {
			os.Remove(f)
		}
	}
	// The directory goes with its last reference; ENOTEMPTY means others remain.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	return nil
}

// SweepParent removes the key directories of parent's links that hold no
// reference: what a writer killed between creating the directory and
// renaming its file into it left. Callers hold parent's lock, which every
// writer of those keys holds too.
func (s Store) SweepParent(scope, parent string) error {
	root := filepath.Join(s.Dir, scope, "links")
	keys, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if !strings.HasPrefix(k.Name(), parent+":") {
			continue
		}
		if users, err := s.Users(scope, k.Name()); err == nil && len(users) == 0 {
			errs = append(errs, os.RemoveAll(filepath.Join(root, k.Name())))
		}
	}
	return errors.Join(errs...)
}

// RemoveScopeIfUnused deletes scope's directory once it holds no reference.
func (s Store) RemoveScopeIfUnused(scope string) error {
	keys, err := os.ReadDir(filepath.Join(s.Dir, scope, "links"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(keys) > 0 {
		return nil
	}
	return os.RemoveAll(filepath.Join(s.Dir, scope))
}

// KeysOf lists the keys a holds references on in scope.
func (s Store) KeysOf(scope string, a Attachment) ([]string, error) {
	keys, err := os.ReadDir(filepath.Join(s.Dir, scope, "links"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, k := range keys {
		if s.Has(scope, k.Name(), a) {
			out = append(out, k.Name())
		}
	}
	return out, err
}

// Has reports whether a holds a reference on key.
func (s Store) Has(scope, key string, a Attachment) bool {
	_, err := os.Stat(filepath.Join(s.linkDir(scope, key), a.ID()))
	return err == nil
}

// Users lists the attachment IDs that reference key, sorted.
func (s Store) Users(scope, key string) ([]string, error) {
	entries, err := os.ReadDir(s.linkDir(scope, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.Name()[0] != '.' {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Ref is one reference: attachment a uses the link Key in Scope.
type Ref struct {
	Scope, Key string
	Attachment Attachment
}

// Scopes lists the scopes that hold references.
func (s Store) Scopes() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, err
}

// List returns every reference in scope. Unreadable files are reported but do
// not stop the walk.
func (s Store) List(scope string) ([]Ref, error) {
	root := filepath.Join(s.Dir, scope, "links")
	keys, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Ref
	var errs []error
	for _, k := range keys {
		ids, err := s.Users(scope, k.Name())
		errs = append(errs, err)
		for _, id := range ids {
			var a Attachment
			data, err := os.ReadFile(filepath.Join(root, k.Name(), id))
			if err == nil {
				err = json.Unmarshal(data, &a)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("reference %s/%s: %w", k.Name(), id, err))
				continue
			}
			out = append(out, Ref{Scope: scope, Key: k.Name(), Attachment: a})
		}
	}
	return out, errors.Join(errs...)
}
