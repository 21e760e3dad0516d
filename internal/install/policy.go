package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	o.defaults()
	data, err := os.ReadFile(o.PolicySrc)
	if err != nil {
		return fmt.Errorf("node policy %s: %w (is the ConfigMap mounted?)", o.PolicySrc, err)
	}
	if _, err := policy.Parse(data); err != nil {
		return fmt.Errorf("refusing node policy %s: %w", o.PolicySrc, err)
	}
	if err := os.MkdirAll(o.PolicyDstDir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(o.PolicyDstDir, policy.File)
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := removeLeftovers(Options{DstDir: o.PolicyDstDir, Log: o.Log}); err != nil {
		return err
	}
	f, err := os.CreateTemp(o.PolicyDstDir, tempPrefix+policy.File+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(0o644), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	o.Log.Info("installed the node policy", "file", dst)
	return syncDir(o.PolicyDstDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// watchPolicy installs the policy again whenever it changes, until ctx is
// done. A policy that fails its check is logged and skipped: the node keeps
// the last good one.
func watchPolicy(ctx context.Context, o Options) {
	o.defaults()
	tick := time.NewTicker(o.PolicyEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := InstallPolicy(o); err != nil {
				o.Log.Error(err.Error())
			}
		}
	}
}
