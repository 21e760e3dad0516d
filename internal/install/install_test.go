package install

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The signal tests run the installer in a child process: this test binary,
// re-executed with QINQ_INSTALL_CHILD set, runs what cmd/qinq-install runs.
func TestMain(m *testing.M) {
	if os.Getenv("QINQ_INSTALL_CHILD") != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child is cmd/qinq-install's main, with a source that can be made slow.
func child() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	o := Options{
		SrcDir: os.Getenv("QINQ_INSTALL_SRC"), DstDir: os.Getenv("QINQ_INSTALL_DST"),
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if os.Getenv("QINQ_INSTALL_CHILD") == "slow" {
		o.Open = slowOpen
	}
	if err := Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// slowOpen gives the first 4 KiB at once, says "copying" on stdout, then
// trickles: the parent interrupts the copy while it is in progress.
func slowOpen(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &slowReader{f: f}, nil
}

type slowReader struct {
	f     *os.File
	reads int
}

func (r *slowReader) Read(p []byte) (int, error) {
	r.reads++
	switch {
	case r.reads == 1:
		return r.f.Read(p[:4096])
	case r.reads == 2:
		fmt.Println("copying")
	}
	time.Sleep(20 * time.Millisecond)
	return r.f.Read(p[:1])
}

func (r *slowReader) Close() error { return r.f.Close() }

// fakePlugin writes an executable that answers VERSION like a CNI plugin,
// padded to 64 KiB so a copy takes many reads; tag makes its bytes unique.
func fakePlugin(t *testing.T, dir, name, tag string) {
	t.Helper()
	script := "#!/bin/sh\n[ \"$CNI_COMMAND\" = VERSION ] && echo '{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"1.0.0\",\"1.1.0\"]}'\nexit 0\n"
	writeExec(t, filepath.Join(dir, name), script+"# "+tag+"\n"+strings.Repeat("#", 64<<10)+"\n")
}

func writeExec(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// dirs makes a source directory with both binaries and an empty target.
func dirs(t *testing.T, tag string) (src, dst string) {
	src, dst = t.TempDir(), t.TempDir()
	for _, b := range Binaries {
		fakePlugin(t, src, b, tag)
	}
	return src, dst
}

// snapshot is a directory's file names, modes and contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		out[e.Name()] = fmt.Sprintf("%v %x", info.Mode(), data)
	}
	return out
}

func assertSame(t *testing.T, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("directory changed: %d files before, %d after: %v", len(before), len(after), keys(after))
	}
	for name, v := range before {
		if after[name] != v {
			t.Fatalf("%s changed", name)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func assertInstalled(t *testing.T, src, dst string) {
	t.Helper()
	for _, b := range Binaries {
		want, _ := os.ReadFile(filepath.Join(src, b))
		got, err := os.ReadFile(filepath.Join(dst, b))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s in %s is not the source's bytes (err %v)", b, dst, err)
		}
		if st, _ := os.Stat(filepath.Join(dst, b)); st.Mode().Perm() != 0o755 {
			t.Fatalf("%s: mode %v, want 0755", b, st.Mode())
		}
	}
	assertNoTemp(t, dst)
}

func assertNoTemp(t *testing.T, dst string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dst, tempPrefix+"*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestInstall_CopiesEveryBinaryExecutable(t *testing.T) {
	src, dst := dirs(t, "v1")
	writeExec(t, filepath.Join(dst, "bridge"), "other plugin")
	if err := Install(context.Background(), Options{SrcDir: src, DstDir: dst}); err != nil {
		t.Fatal(err)
	}
	assertInstalled(t, src, dst)
	if got, _ := os.ReadFile(filepath.Join(dst, "bridge")); string(got) != "other plugin" {
		t.Fatal("another plugin in the directory was touched")
	}
}

func TestInstall_RefusesABinaryThatDoesNotAnswerVERSION(t *testing.T) {
	bad := map[string]string{
		"prints no JSON":         "#!/bin/sh\necho hello\n",
		"exits non-zero":         "#!/bin/sh\necho '{\"code\":4,\"msg\":\"no\"}'\nexit 1\n",
		"no supportedVersions":   "#!/bin/sh\necho '{\"cniVersion\":\"1.1.0\"}'\n",
		"not executable content": "\x7fELF garbage",
	}
	for what, content := range bad {
		t.Run(what, func(t *testing.T) {
			src, dst := dirs(t, "v2")
			fakePlugin(t, dst, "qinq", "v1")
			writeExec(t, filepath.Join(src, "qinq-ovs"), content)
			before := snapshot(t, dst)
			err := Install(context.Background(), Options{SrcDir: src, DstDir: dst})
			if err == nil || !strings.Contains(err.Error(), "refusing "+filepath.Join(src, "qinq-ovs")) {
				t.Fatalf("want a refusal naming qinq-ovs, got %v", err)
			}
			assertSame(t, before, snapshot(t, dst))
		})
	}
}

func TestInstall_ReplacesAnOlderOneByRename(t *testing.T) {
	src, dst := dirs(t, "v2")
	for _, b := range Binaries {
		fakePlugin(t, dst, b, "v1")
	}
	// A runtime executing the old binary keeps its file: the new one is a
	// new inode renamed over the name, never the old file rewritten.
	old, err := os.Open(filepath.Join(dst, "qinq"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := Install(context.Background(), Options{SrcDir: src, DstDir: dst}); err != nil {
		t.Fatal(err)
	}
	assertInstalled(t, src, dst)
	data, _ := io.ReadAll(old)
	if !bytes.Contains(data, []byte("# v1\n")) {
		t.Fatal("the old file was rewritten in place")
	}
}

func TestInstall_UpToDateBinaryIsNotRewritten(t *testing.T) {
	src, dst := dirs(t, "v1")
	if err := Install(context.Background(), Options{SrcDir: src, DstDir: dst}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(filepath.Join(dst, "qinq"))
	if err := Install(context.Background(), Options{SrcDir: src, DstDir: dst}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dst, "qinq"))
	if !os.SameFile(before, after) {
		t.Fatal("an identical binary was replaced")
	}
}

func TestInstall_MissingTargetDirectoryIsAnError(t *testing.T) {
	src, _ := dirs(t, "v1")
	err := Install(context.Background(), Options{SrcDir: src, DstDir: filepath.Join(t.TempDir(), "absent")})
	if err == nil || !strings.Contains(err.Error(), "hostPath") {
		t.Fatalf("want an error about the mount, got %v", err)
	}
}

func TestInstall_CancelledBeforeCommitLeavesNothing(t *testing.T) {
	src, dst := dirs(t, "v2")
	fakePlugin(t, dst, "qinq", "v1")
	before := snapshot(t, dst)
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{SrcDir: src, DstDir: dst, Open: func(p string) (io.ReadCloser, error) {
		cancel() // SIGTERM arrives while the first copy starts
		return os.Open(p)
	}}
	if err := Install(ctx, o); err == nil {
		t.Fatal("a cancelled install reported success")
	}
	assertSame(t, before, snapshot(t, dst))
}

// startChild runs the installer in a child process and waits until it says
// marker (on stdout for "copying", on stderr for log lines).
func startChild(t *testing.T, mode, src, dst, marker string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "QINQ_INSTALL_CHILD="+mode, "QINQ_INSTALL_SRC="+src, "QINQ_INSTALL_DST="+dst)
	pipe := func() io.Reader { r, w := io.Pipe(); cmd.Stdout = w; return r }()
	var stderr bytes.Buffer
	logs, lw := io.Pipe()
	cmd.Stderr = io.MultiWriter(&stderr, lw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	seen := make(chan struct{})
	var once sync.Once
	watch := func(r io.Reader) {
		s := bufio.NewScanner(r)
		for s.Scan() {
			if strings.Contains(s.Text(), marker) {
				once.Do(func() { close(seen) })
			}
		}
	}
	go watch(pipe)
	go watch(logs)
	select {
	case <-seen:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the installer never said %q; stderr: %s", marker, stderr.String())
	}
	return cmd
}

// waitExit waits for the child, failing if SIGTERM does not end it: a copy
// that ignores the signal would trickle on for many minutes.
func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("the installer did not stop on SIGTERM")
		return nil
	}
}

func TestSIGTERM_MidCopyLeavesTheDirectoryUnchanged(t *testing.T) {
	src, dst := dirs(t, "v2")
	fakePlugin(t, dst, "qinq", "v1")
	before := snapshot(t, dst)
	cmd := startChild(t, "slow", src, dst, "copying")
	if temps, _ := filepath.Glob(filepath.Join(dst, tempPrefix+"*")); len(temps) != 1 {
		t.Fatalf("mid-copy: want one temporary file, found %v", temps)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, cmd); err == nil {
		t.Fatal("an interrupted install exited 0")
	}
	assertSame(t, before, snapshot(t, dst))
}

func TestSIGKILL_MidCopyLeftoverIsRemovedAtTheNextStart(t *testing.T) {
	src, dst := dirs(t, "v2")
	fakePlugin(t, dst, "qinq", "v1")
	cmd := startChild(t, "slow", src, dst, "copying")
	cmd.Process.Kill()
	cmd.Wait()
	temps, _ := filepath.Glob(filepath.Join(dst, tempPrefix+"*"))
	if len(temps) != 1 {
		t.Fatalf("after SIGKILL mid-copy: want the temporary file a kill leaves, found %v", temps)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "qinq")); !bytes.Contains(got, []byte("# v1\n")) {
		t.Fatal("SIGKILL mid-copy changed the installed binary")
	}
	if err := Install(context.Background(), Options{SrcDir: src, DstDir: dst}); err != nil {
		t.Fatal(err)
	}
	assertInstalled(t, src, dst)
}

func TestRun_InstallsThenWaitsUntilSIGTERM(t *testing.T) {
	src, dst := dirs(t, "v1")
	cmd := startChild(t, "normal", src, dst, "waiting for SIGTERM")
	assertInstalled(t, src, dst)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the installer exited before SIGTERM: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
}
