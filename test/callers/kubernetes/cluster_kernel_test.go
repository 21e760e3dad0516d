//go:build kerneltest

// Package kubernetes runs qinq's callers against a real Kubernetes control
// plane: etcd and kube-apiserver v1.34.4 built from the Go module proxy
// (scripts/k8s/build-kube.sh), started natively on the build machine by
// scripts/k8s/controlplane.sh, and reached from the VM through QEMU's user
// network (QINQ_VM_NET=user). scripts/test-cluster.sh runs the package:
// without a control plane every test fails, none skips.
package kubernetes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/qinq-cni/qinq/internal/testenv"
)

var (
	env     *testenv.Env
	cluster *controlPlane
)

// controlPlane is what scripts/k8s/controlplane.sh wrote into QINQ_K8S_DIR.
type controlPlane struct {
	dir    string
	server string // the API server as the VM sees it: https://10.0.2.2:PORT
	admin  *rest.Config
	kube   kubernetes.Interface
	dyn    dynamic.Interface
}

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.New(); err == nil {
		err = env.Preflight("multus-daemon", "multus-shim", "loopback", "static", "host-local", "crictl")
	}
	if err == nil {
		cluster, err = connect(os.Getenv("QINQ_K8S_DIR"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "the Kubernetes tests cannot run: %v\n(run them through scripts/test-cluster.sh, which `make test` runs: it builds the control plane, starts it and boots the VM on QEMU's user network)\n", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func connect(dir string) (*controlPlane, error) {
	if dir == "" {
		return nil, fmt.Errorf("QINQ_K8S_DIR is not set: no control plane")
	}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	server, err := read("server")
	if err != nil {
		return nil, err
	}
	token, err := read("admin.token")
	if err != nil {
		return nil, err
	}
	c := &controlPlane{dir: dir, server: server, admin: &rest.Config{
		Host: server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "ca.crt")},
		QPS: 50, Burst: 100,
	}}
	if c.kube, err = kubernetes.NewForConfig(c.admin); err != nil {
		return nil, err
	}
	if c.dyn, err = dynamic.NewForConfig(c.admin); err != nil {
		return nil, err
	}
	// The API server is ready on the host before the VM boots; this is the
	// path through QEMU's user network.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		body, err := c.kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the API server at %s is not ready from the VM: %v", server, err)
		case <-time.After(time.Second):
		}
	}
}

// file is one of QINQ_K8S_DIR's files, for a process the test starts.
func (c *controlPlane) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
