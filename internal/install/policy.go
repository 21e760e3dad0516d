package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/qinq-cni/qinq/pkg/node"
	"github.com/qinq-cni/qinq/pkg/policy"
)

// PolicyInterval is how often Run looks for a changed policy (a ConfigMap
// update reaches the pod's volume within a minute or so).
const PolicyInterval = 10 * time.Second

// InstallPolicy installs the node policy from src (the ConfigMap's file in
// the pod) as policy.json in dstDir (the host's /etc/cni/qinq) the way the
// binaries are installed: checked first (a policy qinq would refuse is never
// installed: the node keeps the one it has), written to a temporary file in
// dstDir, synced, renamed over the old one. The file is root's, mode 0644,
// as qinq requires. An unchanged policy is left alone.
func InstallPolicy(o Options) error {
	return installAdminFile(o, adminFile{src: o.PolicySrc, name: policy.File, what: "node policy",
		check: func(data []byte) error { _, err := policy.Parse(data); return err }})
}

// InstallNode installs the node's settings (the ConfigMap's node.json) as
// node.json beside the policy, the same way: qinq's own parser first.
func InstallNode(o Options) error {
	return installAdminFile(o, adminFile{src: o.NodeSrc, name: node.SettingsFile, what: "node settings",
		check: func(data []byte) error { _, err := node.Parse(data); return err }})
}

// adminFile is one of the admin's files in /etc/cni/qinq and its check.
type adminFile struct {
	src, name, what string
	check           func([]byte) error
}

func installAdminFile(o Options, f adminFile) error {
	o.defaults()
	data, err := os.ReadFile(f.src)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the ConfigMap mounted?)", f.what, f.src, err)
	}
	if err := f.check(data); err != nil {
		return fmt.Errorf("refusing %s %s: %w", f.what, f.src, err)
	}
	if err := os.MkdirAll(o.PolicyDstDir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(o.PolicyDstDir, f.name)
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := removeLeftovers(Options{DstDir: o.PolicyDstDir, Log: o.Log}); err != nil {
		return err
	}
	if err := writeAtomically(o.PolicyDstDir, f.name, data); err != nil {
		return err
	}
	o.Log.Info("installed the "+f.what, "file", dst)
	return syncDir(o.PolicyDstDir)
}

// writeAtomically writes data to a temporary file in dir, mode 0644,
// synced, then renamed to name.
func writeAtomically(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, tempPrefix+name+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(0o644), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// installAdmin installs node.json (first: its bounds hold when a new
// policy comes into force) and the policy, each when given.
func installAdmin(o Options) error {
	var errs []error
	if o.NodeSrc != "" {
		errs = append(errs, InstallNode(o))
	}
	if o.PolicySrc != "" {
		errs = append(errs, InstallPolicy(o))
	}
	return errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// watchPolicy installs node.json and the policy again whenever they
// change, until ctx is done. A file that fails its check is logged and
// skipped: the node keeps the last good one.
func watchPolicy(ctx context.Context, o Options) {
	o.defaults()
	tick := time.NewTicker(o.PolicyEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := installAdmin(o); err != nil {
				o.Log.Error(err.Error())
			}
		}
	}
}
