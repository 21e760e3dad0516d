package record

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// State files are opened without following a symlink in their last
// component: a link planted in the state directory never makes root read or
// write the file it points to. A record that is a symlink is not qinq's:
// it reads as absent (Drop removes the link itself, Put renames over it).

const noFollow = os.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK

func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, noFollow, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, errors.Join(err, fs.ErrNotExist)
	}
	return readAll(f)
}

// writeNoFollow writes a fresh temporary file: whatever is at path (a
// killed writer's leftover, or a planted link) is removed first, and
// O_EXCL refuses anything that appears in between.
func writeNoFollow(path string, data []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

func readAll(f *os.File) ([]byte, error) { return io.ReadAll(f) }
