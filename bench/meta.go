package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// meta describes the machine from inside the VM; what only the host knows
// (its CPU, its load, the revision) comes in QINQ_BENCH_* variables.
func meta(isQuick bool) Meta {
	m := Meta{
		Date: time.Now().UTC().Format(time.RFC3339), Kernel: kernel(), GuestCPU: cpuinfo("model name"),
		HostCPU: os.Getenv("QINQ_BENCH_HOST_CPU"), QEMU: qemuVersion(), Accel: "TCG",
		VCPUs: runtime.NumCPU(), MemoryMB: meminfoMB(), Go: runtime.Version(),
		Revision: os.Getenv("QINQ_BENCH_REV"), Quick: isQuick, HostLoad1: os.Getenv("QINQ_BENCH_HOST_LOAD"),
	}
	switch {
	case os.Getenv("QINQ_IN_VM") != "1":
		m.Accel, m.QEMU = "none (on the host)", ""
	case os.Getenv("QINQ_VM_KVM") == "1":
		m.Accel = "KVM"
	}
	return m
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func cpuinfo(key string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func meminfoMB() int {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data)) // "MemTotal: <kB> kB ..."
	if len(f) < 2 {
		return 0
	}
	kb, _ := strconv.Atoi(f[1])
	return kb / 1024
}

// qemuVersion asks the host's QEMU binary, which the VM sees at its path.
func qemuVersion() string {
	out, err := exec.Command("qemu-system-x86_64", "--version").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(first, "QEMU emulator version ")
}
