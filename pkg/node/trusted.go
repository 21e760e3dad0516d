package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadTrusted reads a file only the node's admin can have written: no
// symlink anywhere in its path, a regular file owned by root, writable by
// its owner alone, at most limit bytes. A missing file is fs.ErrNotExist.
func ReadTrusted(path string, limit int64) ([]byte, error) {
	fd, err := openNoSymlinks(path)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if err := trustedFile(&st, limit); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("more than %d bytes", limit)
	}
	return data, err
}

func trustedFile(st *unix.Stat_t, limit int64) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return errors.New("not a regular file")
	case st.Uid != 0:
		return fmt.Errorf("owned by uid %d, must be owned by root", st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("mode %04o: must not be writable by group or others", st.Mode&0o7777)
	case st.Size > limit:
		return fmt.Errorf("%d bytes, at most %d", st.Size, limit)
	}
	return nil
}

// openNoSymlinks opens path for reading, refusing a symlink in any of its
// components (openat2 RESOLVE_NO_SYMLINKS; on kernels before 5.6 each
// component is checked, then the file is opened O_NOFOLLOW). O_NONBLOCK: a
// FIFO planted there must not hang the plugin before fstat refuses it.
func openNoSymlinks(path string) (int, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return -1, fmt.Errorf("%q: must be an absolute, clean path", path)
	}
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_NO_SYMLINKS})
	if errors.Is(err, unix.ENOSYS) {
		if err = noSymlinkIn(filepath.Dir(path)); err == nil {
			fd, err = unix.Open(path, flags, 0)
		}
	}
	if errors.Is(err, unix.ELOOP) {
		return -1, errors.New("a symlink in its path: the node's files must be reached without symlinks")
	}
	if errors.Is(err, unix.ENOENT) {
		return -1, os.ErrNotExist
	}
	return fd, err
}

// noSymlinkIn checks each component of the absolute directory dir.
func noSymlinkIn(dir string) error {
	at := "/"
	for _, part := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if part == "" {
			continue
		}
		at = filepath.Join(at, part)
		var st unix.Stat_t
		if err := unix.Lstat(at, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return unix.ELOOP
		}
	}
	return nil
}
