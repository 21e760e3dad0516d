package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/record"
)

func fakeKernel(t *testing.T, loaded bool, modulesDep string) {
	dir := t.TempDir()
	oldProc, oldMods, oldSys := procNetVlan, modulesRoot, sysModule
	t.Cleanup(func() { procNetVlan, modulesRoot, sysModule = oldProc, oldMods, oldSys })
	sysModule = filepath.Join(dir, "sys-module")
	procNetVlan = filepath.Join(dir, "proc-net-vlan")
	if loaded {
		os.Mkdir(procNetVlan, 0o755)
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	modulesRoot = filepath.Join(dir, "modules")
	rel := filepath.Join(modulesRoot, unix.ByteSliceToString(uts.Release[:]))
	os.MkdirAll(rel, 0o755)
	os.WriteFile(filepath.Join(rel, "modules.dep"), []byte(modulesDep), 0o644)
}

func TestVLANSupport_LoadedModuleCounts(t *testing.T) {
	fakeKernel(t, true, "")
	if !vlanSupported() {
		t.Fatal("/proc/net/vlan present but VLANs reported unsupported")
	}
}

func TestVLANSupport_LoadableModuleCounts(t *testing.T) {
	fakeKernel(t, false, "kernel/net/8021q/8021q.ko: kernel/net/802/garp.ko\n")
	if !vlanSupported() {
		t.Fatal("8021q.ko in modules.dep but VLANs reported unsupported")
	}
}

func TestSTATUS_WithoutVLANSupportIsCode50NamingThe8021qModule(t *testing.T) {
	fakeKernel(t, false, "kernel/drivers/net/veth.ko:\n")
	conf, err := config.Parse([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"lo","sVlan":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	err = New(conf, record.OpenAt(t.TempDir(), "host-1")).Status()
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.ErrPluginNotAvailable || !strings.Contains(e.Msg, "8021q") {
		t.Fatalf("want code 50 naming 8021q, got %v", err)
	}
}

// The bridge link needs a way to keep a port to its pod's MAC: without a
// port that shows the lock, STATUS wants the filter's modules, names them
// when they are missing, and says which mechanism it found.
func TestSTATUS_BridgeWantsLockedPortsOrTheSourceFilterModules(t *testing.T) {
	conf, err := config.Parse([]byte(`{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"lo","sVlan":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	fakeKernel(t, true, "kernel/net/sched/cls_flower.ko:\n")
	err = New(conf, record.OpenAt(t.TempDir(), "host-1")).Status()
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.ErrPluginNotAvailable || !strings.Contains(e.Msg, "cls_matchall") {
		t.Fatalf("want code 50 naming the missing modules, got %v", err)
	}
	fakeKernel(t, true, "kernel/net/sched/cls_flower.ko:\nkernel/net/sched/cls_matchall.ko:\n"+
		"kernel/net/sched/act_gact.ko:\nkernel/net/sched/sch_ingress.ko:\n")
	b := New(conf, record.OpenAt(t.TempDir(), "host-1"))
	if err := b.Status(); err != nil {
		t.Fatalf("STATUS with the filter's modules: %v", err)
	}
	if got := b.Offers(); len(got) != 2 || got[1] != "tc source-MAC filter" {
		t.Fatalf("STATUS says %v, want the source-MAC filter", got)
	}
}
