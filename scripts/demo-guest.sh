#!/bin/sh
# The demo itself; scripts/demo.sh runs it inside the VM. POSIX sh, and
# iproute2, tcpdump and ping by full path: busybox applets would shadow them.
set -eu
root=$1
IP=/usr/sbin/ip; [ -x $IP ] || IP=/sbin/ip
TCPDUMP=/usr/bin/tcpdump; [ -x $TCPDUMP ] || TCPDUMP=/usr/sbin/tcpdump
PING=/usr/bin/ping; [ -x $PING ] || PING=/bin/ping
CNITOOL=$root/bin/cnitool
# nsenter --net, not ip netns exec: the latter gives cnitool a mount
# namespace of its own, and qinq's namespace for bridges must outlive it.
NSENTER=/usr/bin/nsenter; [ -x $NSENTER ] || NSENTER=nsenter
work=$(mktemp -d /tmp/qinq-demo.XXXXXX)
export CNI_PATH=$root/bin CNI_IFNAME=net1
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "two nodes joined by a wire (veth), two pods"
for n in nodeA nodeB podA podB; do $IP netns add $n; done
$IP link add wire0 netns nodeA type veth peer name wire0 netns nodeB
$IP -n nodeA link set wire0 up; $IP -n nodeB link set wire0 up

# One network per node: S-VLAN 100 (802.1ad), C-VLAN 10, host-local IPAM.
for node in A B; do
  mkdir -p $work/$node
  case $node in A) first=10.99.0.10 ;; B) first=10.99.0.20 ;; esac
  cat >$work/$node/qinq.conflist <<JSON
{ "cniVersion": "1.1.0", "name": "tenant-a",
  "plugins": [ { "type": "qinq", "master": "wire0", "sVlan": 100, "cVlans": [10],
                 "ipam": { "type": "host-local", "dataDir": "$work/$node/ipam",
                           "ranges": [[ { "subnet": "10.99.0.0/24", "rangeStart": "$first" } ]] } } ] }
JSON
done
cat $work/A/qinq.conflist

say "cnitool add (nodeA: podA, nodeB: podB)"
NETCONFPATH=$work/A $NSENTER --net=/var/run/netns/nodeA $CNITOOL add tenant-a /var/run/netns/podA
NETCONFPATH=$work/B $NSENTER --net=/var/run/netns/nodeB $CNITOOL add tenant-a /var/run/netns/podB >/dev/null

say "link tree on nodeA: master -> S-link (802.1ad 100) -> C-link (802.1Q 10) -> bridge -> veth -> net1 in podA"
$IP -n nodeA -d link show wire0.100 | sed -n '1p;3p'
own=$(find /run/qinq -name netns -type f | head -n1)
echo "qinq's own network namespace ($own): the C-link, the bridge and the pod's locked port"
$NSENTER --net=$own $IP -br link
$IP -n podA -br link show net1
$IP -n podA -4 addr show net1 | grep inet

say "ping podA -> podB with full-size 1496-byte packets, DF set (MTU 1500 - 4)"
$IP netns exec nodeB /usr/bin/timeout 20 $TCPDUMP -i wire0 -e -nn -c 2 --immediate-mode -Z root "vlan and vlan and icmp" >$work/wire.txt 2>$work/tcpdump.err &
capture=$!
sleep 1
$IP netns exec podA $PING -c 3 -M do -s 1468 -W 3 10.99.0.20
wait $capture || true

say "frames captured on the wire at nodeB: outer 0x88a8 (S-VLAN 100), inner 0x8100 (C-VLAN 10)"
cat $work/wire.txt
grep -q 'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 100, .*ethertype 802.1Q (0x8100), vlan 10,' $work/wire.txt || { echo 'demo: the captured frames do not carry 0x88a8/100 then 0x8100/10' >&2; exit 1; }

say "cnitool del, then what is left"
NETCONFPATH=$work/A $NSENTER --net=/var/run/netns/nodeA $CNITOOL del tenant-a /var/run/netns/podA
NETCONFPATH=$work/B $NSENTER --net=/var/run/netns/nodeB $CNITOOL del tenant-a /var/run/netns/podB
left=0
for n in nodeA nodeB podA podB; do
  links=$($IP -n $n -o link show type vlan)
  if [ -n "$links" ]; then echo "$n still has: $links"; left=1; else echo "$n: no VLAN links"; fi
done
for own in $(find /run/qinq -name netns -type f); do
  links=$($NSENTER --net=$own $IP -o link | grep -v ': lo:' || true)
  if [ -n "$links" ]; then echo "qinq's namespace still has: $links"; left=1; else echo "qinq's namespace: no links"; fi
done
refs=$(find /run/qinq -type f -path '*/links/*' 2>/dev/null)
ips=$(find $work/A/ipam $work/B/ipam -type f -name '10.*' 2>/dev/null)
echo "qinq references: ${refs:-none}"; echo "IPAM allocations: ${ips:-none}"
[ -z "$refs" ] && [ -z "$ips" ] && [ $left = 0 ]
for n in nodeA nodeB podA podB; do $IP netns del $n; done
say "clean: nothing left"
