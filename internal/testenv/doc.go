// Package testenv is the real-kernel test bed shared by qinq's test packages:
// the plugin's kernel tests (test/binary), the black-box conformance
// suite (test/binary/conformance/) and whatever comes next (another link type's tests, an
// end-to-end test behind a meta-plugin, a benchmark runner).
//
// It runs inside the project's QEMU VM (scripts/vm/run as go test -exec), as
// root, and offers, once:
//
//   - Env: where the binaries are (bin/qinq, the IPAM plugins, the tools) and
//     a preflight that fails loudly instead of letting tests skip.
//   - Node: a simulated host, a network namespace with a master link (a veth
//     wire to another node, or a dummy), where plugins run as a runtime would
//     run them: Invoke/Add/Del/Check/GC/Status through the CNI invoke package,
//     LibCNI for a libcni runtime, Raw for an exact environment and stdin.
//   - Container: a pod sandbox, a network namespace and an ID, killable.
//   - Conf: network configuration builders.
//   - link inspection (VLANs, Link, Addrs) and set-up (AddDummy, AddVLAN, ...).
//   - traffic (Echo: one UDP datagram of an exact size with DF; Unreachable)
//     and frame capture with tcpdump (Node.Capture, ParsePcap, AssertTags).
//   - World and Snapshot: what one test can change (links in its node, its
//     containers and the VM, files in the state directory and the IPAM store,
//     Open vSwitch ports) recorded before and after, and their Diff.
//   - Attacker: a pod made of the attack program (bin/qinq-nsattack), in the
//     host's user namespace with NET_ADMIN alone or in a user namespace of
//     its own, acting on the namespaces the kernel gives it ids for.
//   - OVS: Open vSwitch started once per test process inside the VM, bridges
//     and uplinks for one test.
//   - Containerd: Debian's containerd 1.6 started for one test with its CNI
//     directories, driven with crictl (runp, inspectp, stopp, rmp); HostNode
//     (the VM's own namespace, where a runtime runs its plugins) and
//     RuntimeContainer (a sandbox the runtime made) go with it.
//
// Nothing here imports the plugin's own packages: the conformance suite that
// uses it stays black-box. The only process-wide state is what is process-wide
// by nature: Open vSwitch (started once), containerd's content store (the
// pause image imported once) and the counters that keep container IDs and
// bridge names unique.
package testenv
