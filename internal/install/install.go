// Package install copies qinq's executables into a node's CNI binary
// directory so that a container runtime never sees a half-written or broken
// plugin: each binary must answer CNI_COMMAND=VERSION first, every copy goes
// to a temporary file in the target directory, is synced and only then
// renamed over the old one. An interruption (context cancelled by SIGTERM)
// before the renames leaves the directory as it was; what a SIGKILL leaves
// (temporary files) is removed at the next start.
package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
)

// Binaries are the executables a node needs: the plugin users name as
// "type": "qinq", and the OVS backend it hands OVS-mode invocations to
// (found beside it, so both go to the same directory).
var Binaries = []string{"qinq", "qinq-ovs"}

// tempPrefix marks the installer's temporary files in the target directory;
// anything with it is a leftover of an interrupted run.
const tempPrefix = ".qinq-install-"

// versionTimeout bounds the VERSION check: a binary that hangs is refused.
const versionTimeout = 30 * time.Second

// Options say what to install where.
type Options struct {
	// SrcDir holds the binaries to install (in the image: /opt/qinq/bin).
	SrcDir string
	// DstDir is the host's CNI binary directory, mounted into the pod.
	DstDir string
	// Binaries to install; nil means Binaries.
	Binaries []string
	Log      *slog.Logger
	// Open opens a source for copying; nil means os.Open. Tests slow it down
	// to interrupt a copy midway.
	Open func(path string) (io.ReadCloser, error)
	// PolicySrc is the node policy to install (the ConfigMap's policy.json
	// in the pod), PolicyDstDir the host's /etc/cni/qinq as mounted; ""
	// installs no policy.
	PolicySrc, PolicyDstDir string
	// NodeSrc is node.json to install beside the policy (the ConfigMap's
	// node.json in the pod); "" installs none.
	NodeSrc string
	// PolicyEvery is how often Run looks for a changed policy (PolicyInterval).
	PolicyEvery time.Duration
}

func (o *Options) defaults() {
	if o.Binaries == nil {
		o.Binaries = Binaries
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Open == nil {
		o.Open = func(p string) (io.ReadCloser, error) { return os.Open(p) }
	}
	if o.PolicyEvery == 0 {
		o.PolicyEvery = PolicyInterval
	}
}

// Run installs, then waits until ctx is done (the DaemonSet's container
// stays up so the pod shows the node is served). A failed install returns
// at once: the pod restarts and tries again.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	if err := Install(ctx, o); err != nil {
		return err
	}
	o.Log.Info("installed; waiting for SIGTERM", "dir", o.DstDir)
	if o.PolicySrc != "" || o.NodeSrc != "" {
		watchPolicy(ctx, o)
	}
	<-ctx.Done()
	return nil
}

// Install checks every binary, stages the ones that differ from what the
// directory holds, then renames them into place. Nothing in DstDir changes
// unless every binary passed its check and was fully staged.
func Install(ctx context.Context, o Options) error {
	o.defaults()
	if st, err := os.Stat(o.DstDir); err != nil || !st.IsDir() {
		return fmt.Errorf("target directory %s: not a directory (is the hostPath mounted?): %v", o.DstDir, err)
	}
	if err := removeLeftovers(o); err != nil {
		return err
	}
	for _, name := range o.Binaries {
		if err := checkVersion(ctx, filepath.Join(o.SrcDir, name)); err != nil {
			return err
		}
	}
	staged, err := stageAll(ctx, o)
	if err != nil {
		return err
	}
	if err := commit(o, staged); err != nil {
		return err
	}
	return installAdmin(o)
}

// removeLeftovers deletes the temporary files an earlier run left when it
// was killed mid-copy. Only files with our prefix are touched.
func removeLeftovers(o Options) error {
	entries, err := os.ReadDir(o.DstDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(o.DstDir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing leftover %s: %w", e.Name(), err)
		}
		o.Log.Info("removed the leftover of an interrupted install", "file", e.Name())
	}
	return nil
}

// checkVersion refuses a binary that does not answer CNI_COMMAND=VERSION
// with a CNI version result: a runtime would fail every pod with it.
func checkVersion(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	info, err := invoke.GetVersionInfo(ctx, path, nil)
	if err != nil {
		return fmt.Errorf("refusing %s: it does not answer CNI_COMMAND=VERSION with a CNI version result: %w", path, err)
	}
	if len(info.SupportedVersions()) == 0 {
		return fmt.Errorf("refusing %s: its VERSION answer lists no supported CNI version", path)
	}
	return nil
}

// staged is a complete, synced copy waiting in DstDir under a temporary name.
type staged struct{ name, temp string }

func stageAll(ctx context.Context, o Options) ([]staged, error) {
	var out []staged
	for _, name := range o.Binaries {
		same, err := sameContent(filepath.Join(o.SrcDir, name), filepath.Join(o.DstDir, name))
		if err != nil {
			discard(out)
			return nil, err
		}
		if same {
			o.Log.Info("already installed", "binary", name)
			continue
		}
		temp, err := stage(ctx, o, name)
		if err != nil {
			discard(out)
			return nil, err
		}
		out = append(out, staged{name, temp})
	}
	return out, nil
}

func discard(s []staged) {
	for _, f := range s {
		os.Remove(f.temp)
	}
}

// stage copies one binary to a temporary file in DstDir (the same file
// system, so the rename is atomic), executable and synced to disk.
func stage(ctx context.Context, o Options, name string) (temp string, err error) {
	src, err := o.Open(filepath.Join(o.SrcDir, name))
	if err != nil {
		return "", err
	}
	defer src.Close()
	f, err := os.CreateTemp(o.DstDir, tempPrefix+name+"-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = copyCtx(ctx, f, src); err != nil {
		return "", fmt.Errorf("copying %s: %w", name, err)
	}
	if err = f.Chmod(0o755); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// copyCtx copies in chunks and stops between two chunks once ctx is done.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// commit renames every staged file into place, then syncs the directory so
// the renames survive a power cut. It does not look at ctx: the renames take
// microseconds, and stopping between two would mix versions.
func commit(o Options, s []staged) error {
	for i, f := range s {
		if err := os.Rename(f.temp, filepath.Join(o.DstDir, f.name)); err != nil {
			discard(s[i:])
			return err
		}
		o.Log.Info("installed", "binary", f.name, "dir", o.DstDir)
	}
	d, err := os.Open(o.DstDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sameContent reports whether dst exists with exactly src's bytes: then
// there is nothing to do (a restarted pod does not rewrite the binary).
func sameContent(src, dst string) (bool, error) {
	want, err := digest(src)
	if err != nil {
		return false, err
	}
	have, err := digest(dst)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil && bytes.Equal(want, have), err
}

func digest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
