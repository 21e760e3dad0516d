package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func write(t *testing.T, path, data string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestReadTrusted_AcceptsARootOwnedFileOnlyItsOwnerWrites(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("needs root: the file must be owned by root (make unit runs as root, as CI does)")
	}
	p := write(t, filepath.Join(t.TempDir(), "f.json"), `{"version":1}`, 0o644)
	if data, err := ReadTrusted(p, 100); err != nil || string(data) != `{"version":1}` {
		t.Fatalf("%q %v", data, err)
	}
}

func TestReadTrusted_RefusesWhatAnotherThanTheAdminCouldHaveWritten(t *testing.T) {
	dir := t.TempDir()
	good := write(t, filepath.Join(dir, "good"), "{}", 0o600)
	cases := map[string]struct {
		path string
		want string
	}{}
	cases["group-writable"] = struct{ path, want string }{write(t, filepath.Join(dir, "gw"), "{}", 0o620), "writable by group or others"}
	cases["world-writable"] = struct{ path, want string }{write(t, filepath.Join(dir, "ww"), "{}", 0o602), "writable by group or others"}
	notRoot := write(t, filepath.Join(dir, "user"), "{}", 0o600)
	if err := os.Chown(notRoot, 1000, 1000); err == nil {
		cases["not root's"] = struct{ path, want string }{notRoot, "owned by uid 1000"}
	}
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	cases["a symlink"] = struct{ path, want string }{link, "symlink"}
	sub := filepath.Join(dir, "real")
	os.Mkdir(sub, 0o700)
	write(t, filepath.Join(sub, "f"), "{}", 0o600)
	os.Symlink(sub, filepath.Join(dir, "linkdir"))
	cases["a symlinked directory"] = struct{ path, want string }{filepath.Join(dir, "linkdir", "f"), "symlink"}
	cases["a directory"] = struct{ path, want string }{sub, "not a regular file"}
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	cases["a FIFO (must not hang)"] = struct{ path, want string }{fifo, "not a regular file"}
	cases["too big"] = struct{ path, want string }{write(t, filepath.Join(dir, "big"), strings.Repeat(" ", 101), 0o600), "at most 100"}
	cases["relative"] = struct{ path, want string }{"etc/x", "absolute"}
	for name, c := range cases {
		if _, err := ReadTrusted(c.path, 100); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
	if _, err := ReadTrusted(filepath.Join(dir, "missing"), 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v, want fs.ErrNotExist", err)
	}
	// The fallback for kernels without openat2 refuses the same symlinks.
	if err := noSymlinkIn(filepath.Join(dir, "linkdir")); err == nil {
		t.Error("noSymlinkIn accepted a symlinked directory")
	}
	if err := noSymlinkIn(sub); err != nil {
		t.Errorf("noSymlinkIn(%s): %v", sub, err)
	}
}

func TestLoad_NodeJSONIsStrictAndVersioned(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.json")
	if s, err := load(p); err != nil || s.LogDir != DefaultLogDir {
		t.Fatalf("no node.json: %+v %v, want the defaults", s, err)
	}
	write(t, p, `{"version":1,"logDir":"/var/log/x","ovsdbEndpoints":["tcp:127.0.0.1:6640"]}`, 0o600)
	if s, err := load(p); err != nil || s.LogDir != "/var/log/x" || len(s.OVSDBEndpoints) != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	for data, want := range map[string]string{
		``:                            "EOF",
		`{"version":1`:                "EOF",
		`{"version":2}`:               "version",
		`{}`:                          "version",
		`{"version":1,"logdir":"/x"}`: "unknown field",
		`{"version":1,"logDir":"x"}`:  "logDir",
		`{"version":1,"logDir":"/"}`:  "logDir",
		`{"version":1,"ovsdbEndpoints":["ssl:x"]}`: "ovsdbEndpoints[0]",
		`{"version":1} {}`:                         "trailing",
	} {
		write(t, p, data, 0o600)
		s, err := load(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %q", data, err, want)
		}
		if s.LogDir != DefaultLogDir || s.OVSDBEndpoints != nil {
			t.Errorf("%q: a bad node.json must leave the defaults, got %+v", data, s)
		}
	}
}

func TestCheckLogFile_OnlyAFileDirectlyInTheLogDirectory(t *testing.T) {
	s := Settings{LogDir: "/var/log/qinq"}
	for _, ok := range []string{"", "/var/log/qinq/qinq.log", "/var/log/qinq/tenant-a.log"} {
		if err := s.CheckLogFile(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"/etc/profile.d/x.sh", "/var/log/qinq/../../../etc/cron.d/x", "/var/log/qinq", "/var/log/qinq/a/b",
		"/var/log/qinq//x", "qinq.log", "/var/log/qinqx/y"} {
		err := s.CheckLogFile(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "logFile: ") || !strings.Contains(err.Error(), "/var/log/qinq") {
			t.Errorf("%q: %v, want code 7 naming logFile and the directory", bad, err)
		}
	}
}

func TestCheckOVSDB_OnlyOVSRunDirectoriesUnlessNodeJSONAllows(t *testing.T) {
	s := Settings{OVSDBEndpoints: []string{"tcp:127.0.0.1:6640"}}
	for _, ok := range []string{"unix:/var/run/openvswitch/db.sock", "unix:/run/openvswitch/db.sock", "tcp:127.0.0.1:6640"} {
		if err := s.CheckOVSDB(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"tcp:10.0.0.1:6640", "tcp:127.0.0.1:6641", "unix:/tmp/db.sock", "unix:/run/openvswitch/../x.sock",
		"unix:/run/openvswitch/sub/db.sock", "unix:run/openvswitch/db.sock", "unix:/run/openvswitchx/db.sock"} {
		if err := s.CheckOVSDB(bad); err == nil || !strings.HasPrefix(err.Error(), "ovsdbSocket: ") {
			t.Errorf("%q: %v, want code 7 naming ovsdbSocket", bad, err)
		}
	}
}

func TestOpenLog_RefusesSymlinksHardLinksAndFIFOsAndMakesMode0600(t *testing.T) {
	dir := t.TempDir()
	s := Settings{LogDir: filepath.Join(dir, "log")}
	f, err := s.OpenLog(filepath.Join(s.LogDir, "ok.log"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st, _ := os.Stat(filepath.Join(s.LogDir, "ok.log")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	wide := write(t, filepath.Join(s.LogDir, "wide.log"), "", 0o644)
	if f, err := s.OpenLog(wide); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	if st, _ := os.Stat(wide); st.Mode().Perm() != 0o600 {
		t.Errorf("existing 0644 log: mode %v after open, want 0600", st.Mode().Perm())
	}
	victim := write(t, filepath.Join(dir, "victim"), "keep", 0o644)
	os.Symlink(victim, filepath.Join(s.LogDir, "sym.log"))
	os.Link(victim, filepath.Join(s.LogDir, "hard.log"))
	syscall.Mkfifo(filepath.Join(s.LogDir, "fifo.log"), 0o600)
	for _, bad := range []string{"sym.log", "hard.log", "fifo.log"} {
		if f, err := s.OpenLog(filepath.Join(s.LogDir, bad)); err == nil {
			f.Close()
			t.Errorf("%s: opened", bad)
		}
	}
	if data, _ := os.ReadFile(victim); string(data) != "keep" {
		t.Errorf("the symlink's target changed: %q", data)
	}
	if _, err := s.OpenLog("/etc/profile.d/x.sh"); err == nil {
		t.Error("opened a log outside the log directory")
	}
}
