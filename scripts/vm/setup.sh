#!/usr/bin/env bash
# Prepare everything scripts/vm/run needs: Debian packages (qemu, busybox,
# iproute2, tcpdump, kmod, cpio), the Debian bookworm kernel that
# linux-image-amd64 depends on, and a busybox initramfs with the kernel
# modules the tests need. Idempotent; results are cached in
# ${QINQ_VM_CACHE:-$HOME/.cache/qinq-vm}. On success it writes
# $CACHE/current.env (KVER, KERNEL, INITRD) which scripts/vm/run sources.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${QINQ_VM_CACHE:-$HOME/.cache/qinq-vm}
quiet=${QINQ_VM_SETUP_QUIET:-0}

say() { [ "$quiet" = 1 ] || echo "vm: $*" >&2; }
die() { echo "vm: setup: $*" >&2; exit 1; }

# Packages the host side needs. qemu-system-x86 runs the VM; busybox-static
# is the VM's init userland; iproute2/tcpdump are the tools tests run inside
# the VM (shared from the host over 9p); kmod gives depmod/modprobe to
# compute module order; cpio builds the initramfs; util-linux gives flock;
# iptables (iptables-legacy) sets the node rules of the br_netfilter test and
# is what the portmap plugin of the ipamTypes test writes its DNAT rules with.
packages=(qemu-system-x86 busybox-static iproute2 tcpdump kmod cpio util-linux coreutils xz-utils zstd grep iptables)

# Kernel modules loaded at boot (their dependencies are added automatically).
# virtio_net is the NIC QINQ_VM_NET=user gives the VM (scripts/vm/run).
# 9p/9pnet_virtio/overlay share the host's / read-only with a tmpfs overlay.
# QINQ_VM_EXTRA_MODULES (space separated) adds more.
modules=(virtio_pci virtio_net 9p 9pnet_virtio overlay 8021q veth dummy bridge tun openvswitch macvlan ipvlan
	br_netfilter iptable_filter iptable_nat xt_nat sch_ingress cls_flower cls_matchall act_gact
	xt_tcpudp xt_comment xt_multiport xt_addrtype xt_mark xt_MASQUERADE
	${QINQ_VM_EXTRA_MODULES:-})

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, VM runs tests as root)"
mkdir -p "$cache"

# Serialise concurrent setups (several `run`s may start at once).
exec 9>"$cache/.lock"
flock 9

updated=0
apt_update() {
	if [ "$updated" = 0 ]; then
		say "apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed"
		updated=1
	fi
}

missing=()
for p in "${packages[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt_update
	say "installing Debian packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
fi

# --- kernel -----------------------------------------------------------------
# QINQ_VM_SUITE names another Debian suite whose kernel to boot (bullseye:
# 5.10, bookworm-backports: 6.12), read through apt lists of our own under
# the cache: the machine's apt sources stay as they are.
suite=${QINQ_VM_SUITE:-}
apt_opts=()
if [ -n "$suite" ]; then
	case $suite in
	bullseye | bookworm-backports) ;;
	*) die "QINQ_VM_SUITE=$suite: must be bullseye or bookworm-backports" ;;
	esac
	aptdir=$cache/apt/$suite
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache"
	echo "deb http://deb.debian.org/debian $suite main" >"$aptdir/sources.list"
	apt_opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=- -o "Dir::State::Lists=$aptdir/lists"
		-o "Dir::Cache=$aptdir/cache" -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
	if ! ls "$aptdir"/lists/*_Packages* >/dev/null 2>&1; then
		say "apt-get update for $suite (lists of our own)"
		apt-get "${apt_opts[@]}" update -qq >&2 || die "apt-get update of $suite failed"
	fi
fi

# KVER: QINQ_VM_KVER, else the version linux-image-amd64 depends on (from the
# apt lists), else (offline, no lists) the newest one already cached.
kernel_pkg_for_meta() {
	apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1
}
if [ -n "${QINQ_VM_KVER:-}" ]; then
	kver=$QINQ_VM_KVER
else
	pkg=$(kernel_pkg_for_meta)
	if [ -z "$pkg" ] && [ -z "$suite" ] && ! ls -d "$cache"/kernel/*/.done >/dev/null 2>&1; then
		apt_update
		pkg=$(kernel_pkg_for_meta)
	fi
	if [ -n "$pkg" ]; then
		kver=${pkg#linux-image-}
	else
		kver=$(ls -d "$cache"/kernel/*/.done 2>/dev/null | sed 's#.*/kernel/\(.*\)/.done#\1#' | sort -V | tail -n1)
	fi
fi
[ -n "$kver" ] || die "cannot determine the kernel version (linux-image-amd64 not in apt lists?)"

kroot=$cache/kernel/$kver
if [ ! -e "$kroot/.done" ]; then
	pkg=linux-image-$kver
	dl=$(mktemp -d "$cache/.dl.XXXXXX")
	say "downloading Debian kernel package $pkg (~70 MB, once)"
	if ! (cd "$dl" && apt-get "${apt_opts[@]}" download -qq -o APT::Sandbox::User=root "$pkg" >&2); then
		[ -n "$suite" ] || apt_update
		(cd "$dl" && apt-get "${apt_opts[@]}" download -qq -o APT::Sandbox::User=root "$pkg" >&2) || { rm -rf "$dl"; die "apt-get download $pkg failed"; }
	fi
	rm -rf "$kroot.tmp"
	mkdir -p "$kroot.tmp"
	say "unpacking $pkg into $kroot"
	dpkg -x "$dl"/*.deb "$kroot.tmp"
	rm -rf "$dl"
	depmod -b "$kroot.tmp" "$kver"
	rm -rf "$kroot"
	mv "$kroot.tmp" "$kroot"
	touch "$kroot/.done"
fi
kernel=$kroot/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "kernel image $kernel missing (remove $kroot and retry)"
# Under TCG the guest spends ~3 s decompressing the bzImage. The kernel
# has CONFIG_PVH, so QEMU can boot the uncompressed ELF vmlinux directly:
# unpack it once (payload starts at the xz magic FD 37 7A 58 5A 00, or at
# zstd's 28 B5 2F FD from 6.x on).
if [ ! -f "$kroot/vmlinux" ]; then
	rm -f "$kroot/vmlinux.tmp"
	# The decompressors complain about the bytes after the stream: ignore their status.
	for z in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd'; do
		off=$(LC_ALL=C grep -obUaP "${z%:*}" "$kernel" | head -n1 | cut -d: -f1 || true)
		[ -z "$off" ] || { tail -c +"$((off + 1))" "$kernel" | "${z#*:}" -dc >"$kroot/vmlinux.tmp" 2>/dev/null || true; }
		[ ! -s "$kroot/vmlinux.tmp" ] || break
	done
	if [ "$(head -c 4 "$kroot/vmlinux.tmp" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; then
		mv "$kroot/vmlinux.tmp" "$kroot/vmlinux"
	else
		rm -f "$kroot/vmlinux.tmp"
		say "could not extract vmlinux from $kernel; booting the compressed image (slower)"
	fi
fi
[ ! -f "$kroot/vmlinux" ] || kernel=$kroot/vmlinux

# --- initramfs --------------------------------------------------------------
# Module load order: modprobe --show-depends prints "insmod <path>" lines,
# dependencies first; "builtin <name>" for built-in ones.
modlist=$(
	for m in "${modules[@]}"; do
		modprobe --show-depends -d "$kroot" -S "$kver" "$m" ||
			die "module $m not found for kernel $kver"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
)
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox missing (busybox-static)"
key=$({
	echo "$kver"
	echo "$modlist"
	cat "$here/init"
	sha256sum "$busybox"
	cat "$0"
} | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio
if [ ! -f "$initrd" ]; then
	say "building initramfs $initrd"
	t=$(mktemp -d "$cache/.initrd.XXXXXX")
	mkdir -p "$t"/{bin,sbin,dev,proc,sys,run,tmp,mnt,newroot,lib/modules}
	cp "$busybox" "$t/bin/busybox"
	ln -s busybox "$t/bin/sh"
	install -m 0755 "$here/init" "$t/init"
	: >"$t/lib/modules/order"
	while read -r path; do
		[ -n "$path" ] || continue
		rel=${path#"$kroot"}
		mkdir -p "$t$(dirname "$rel")"
		cp "$path" "$t$rel"
		echo "$rel" >>"$t/lib/modules/order"
	done <<<"$modlist"
	# Uncompressed: under TCG decompressing in the guest costs more than
	# loading a few extra MB.
	(cd "$t" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$t"
	# Drop this kernel's stale initramfs images (other kernels keep theirs).
	find "$cache" -maxdepth 1 -name "initramfs-$kver-*.cpio" ! -path "$initrd" -delete
fi

env_file=$cache/current${suite:+-$suite}.env
cat >"$env_file.tmp" <<EOF
KVER='$kver'
KERNEL='$kernel'
INITRD='$initrd'
EOF
mv "$env_file.tmp" "$env_file"
say "ready: kernel $kver, initramfs $(basename "$initrd") ($(($(stat -c %s "$initrd") / 1024)) KiB)"
