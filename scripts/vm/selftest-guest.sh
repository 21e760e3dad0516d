#!/bin/sh
# Runs inside the VM (via scripts/vm/selftest.sh): checks the kernel
# features and host tools the qinq tests rely on.
set -eu
IP=/usr/sbin/ip
TCPDUMP=/usr/bin/tcpdump
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${QINQ_IN_VM:-}" = 1 ] || fail "QINQ_IN_VM is not 1"
[ "$(id -u)" = 0 ] || fail "not root"
echo "kernel $(uname -r), cwd $(pwd)"
echo "modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
for m in 8021q veth dummy bridge tun openvswitch; do
	grep -q "^$m " /proc/modules || fail "module $m not loaded"
done
[ -c /dev/net/tun ] || fail "/dev/net/tun missing"
for d in /run /tmp /var/run; do
	[ -z "$(ls -A $d/ 2>/dev/null | grep -v '^qinq-vm$' || true)" ] || fail "$d is not a fresh VM-local dir"
	touch $d/.w && rm $d/.w || fail "$d not writable"
done

echo "== QinQ on dummy"
$IP link add dq0 type dummy
$IP link add link dq0 name dq.100 type vlan protocol 802.1ad id 100
$IP link add link dq.100 name dq.100.10 type vlan id 10
$IP -d link show dq.100.10
$IP -d link show dq.100 | grep -q 'vlan protocol 802.1ad id 100' || fail "dq.100 is not 802.1ad"
$IP -d link show dq.100.10 | grep -q 'vlan protocol 802.1Q id 10' || fail "dq.100.10 is not 802.1Q"

echo "== veth + double-tagged frame capture"
# No IPv6: its multicast reports would be the first captured frame.
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
$IP link add va type veth peer name vb
$IP link add link va name va.100 type vlan protocol 802.1ad id 100
$IP link add link va.100 name va.100.10 type vlan id 10
$IP addr add 192.0.2.1/24 dev va.100.10
for l in va vb va.100 va.100.10; do $IP link set $l up; done
$TCPDUMP -Z root -i vb -e -nn -xx -c 1 -l >/tmp/cap.txt 2>/tmp/cap.err &
tcpdump_pid=$!
# Wait until tcpdump listens (slow under TCG), then trigger an ARP request.
i=0
until grep -q 'listening on' /tmp/cap.err || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
/bin/busybox ping -c 1 -W 1 192.0.2.2 >/dev/null 2>&1 || true
for i in $(seq 50); do
	kill -0 $tcpdump_pid 2>/dev/null || break
	[ $i != 20 ] || /bin/busybox ping -c 1 -W 1 192.0.2.2 >/dev/null 2>&1 || true
	sleep 0.1
done
kill $tcpdump_pid 2>/dev/null || true
wait $tcpdump_pid || true
cat /tmp/cap.txt
grep -q 'ethertype 802.1Q-QinQ (0x88a8).*vlan 100.*ethertype 802.1Q (0x8100).*vlan 10' /tmp/cap.txt ||
	fail "no 0x88a8/100 then 0x8100/10 frame captured"
# Raw bytes after the MACs: 88a8 0064 8100 000a.
sed -n 's/^[[:space:]]*0x[0-9a-f]*:[[:space:]]*//p' /tmp/cap.txt | tr -d ' \n' | grep -q '88a800648100000a' || fail "raw bytes 88a8 0064 8100 000a not found"

echo "== bridge / tun / netns"
$IP link add br0 type bridge
$IP link set vb master br0
/usr/sbin/bridge link show | grep -q vb || fail "bridge link show"
$IP tuntap add tap0 mode tap
$IP netns add ns1
$IP netns exec ns1 $IP link show lo >/dev/null
echo "ALL OK"
