package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// OVSRunDirs are Open vSwitch's run directories: the only places an
// ovsdbSocket may point to unless node.json lists the endpoint.
var OVSRunDirs = []string{"/run/openvswitch", "/var/run/openvswitch"}

// CheckLogFile refuses (code 7) a logFile that is not a file directly in
// the node's log directory.
func (s Settings) CheckLogFile(file string) error {
	if file == "" {
		return nil
	}
	if !filepath.IsAbs(file) || filepath.Clean(file) != file || filepath.Dir(file) != s.LogDir || filepath.Base(file) == PolicyLog {
		return cnierr.InvalidConfig("logFile", "%q: must be a file directly in the node's log directory %s (not %s; only %s/%s changes that directory)",
			file, s.LogDir, PolicyLog, Dir(), SettingsFile)
	}
	return nil
}

// CheckOVSDB refuses (code 7) an ovsdbSocket that is neither a unix socket
// under OVSRunDirs nor listed in node.json: a network config must not make
// the node connect anywhere, nor trust another OVSDB server's answers.
func (s Settings) CheckOVSDB(endpoint string) error {
	if slices.Contains(s.OVSDBEndpoints, endpoint) {
		return nil
	}
	if path, ok := strings.CutPrefix(endpoint, "unix:"); ok && filepath.Clean(path) == path {
		for _, dir := range OVSRunDirs {
			if filepath.Dir(path) == dir {
				return nil
			}
		}
	}
	return cnierr.InvalidConfig("ovsdbSocket", "%q: must be a unix socket in %s or %s, e.g. \"unix:/var/run/openvswitch/db.sock\" (other endpoints only when %s/%s lists them in ovsdbEndpoints)",
		endpoint, OVSRunDirs[0], OVSRunDirs[1], Dir(), SettingsFile)
}

// OpenLog opens file (checked by CheckLogFile) to append one line:
// O_NOFOLLOW, so a symlink planted there is refused; a regular file with
// one link, mode 0600. The log directory is made (0700) if missing.
func (s Settings) OpenLog(file string) (*os.File, error) {
	if err := s.CheckLogFile(file); err != nil {
		return nil, err
	}
	return s.openLog(file)
}

// OpenPolicyLog opens the node's log of policy decisions, PolicyLog.
func (s Settings) OpenPolicyLog() (*os.File, error) {
	return s.openLog(filepath.Join(s.LogDir, PolicyLog))
}

func (s Settings) openLog(file string) (*os.File, error) {
	if err := os.MkdirAll(s.LogDir, 0o700); err != nil {
		return nil, err
	}
	fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	f := os.NewFile(uintptr(fd), file)
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	switch {
	case err != nil:
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = errors.New("not a regular file")
	case st.Nlink != 1:
		err = fmt.Errorf("%d hard links: a log file has exactly one", st.Nlink)
	case st.Mode&0o077 != 0:
		err = unix.Fchmod(fd, 0o600)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("log file %s: %w", file, err)
	}
	return f, nil
}

// resolved is path with the symlinks of its longest existing prefix
// resolved (/var/run/qinq is /run/qinq), so no spelling hides a directory.
func resolved(path string) string {
	path = filepath.Clean(path)
	for p, rest := path, ""; ; p, rest = filepath.Dir(p), filepath.Join(filepath.Base(p), rest) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		if p == filepath.Dir(p) {
			return path
		}
	}
}
