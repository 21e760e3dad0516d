package main

import "testing"

func TestStraceParse(t *testing.T) {
	s := straced{calls: map[string]int{}, requests: map[string]int{}, pending: map[string]bool{}}
	for _, l := range []string{
		`155   sendto(6<NETLINK:[10960]>, [{nlmsg_len=48, nlmsg_type=0x12 /* NLMSG_??? */, nlmsg_flags=NLM_F_REQUEST|NLM_F_ACK, nlmsg_seq=1, nlmsg_pid=0}, "\x00"], 48, 0, {sa_family=AF_NETLINK}, 12) = 48`,
		`155   sendto(6<NETLINK:[10960]>, [{nlmsg_len=48, nlmsg_type=0x12 /* NLMSG_??? */, nlmsg_flags=NLM_F_REQUEST|0x300, nlmsg_seq=2, nlmsg_pid=0}, "\x00"], 48, 0, {sa_family=AF_NETLINK}, 12) = 48`,
		`156   sendto(3<NETLINK:[ROUTE:156]>, [{nlmsg_len=32, nlmsg_type=RTM_NEWLINK, nlmsg_flags=NLM_F_REQUEST|NLM_F_ACK, nlmsg_seq=0, nlmsg_pid=0}], 32, 0, NULL, 0) = 32`,
		`155   recvfrom(6<NETLINK:[10960]>, [{nlmsg_len=1000}], 65536, 0, {sa_family=AF_NETLINK}, [12]) = 1000`,
		`157   recvfrom(6<NETLINK:[10960]>,  <unfinished ...>`,
		`158   <... recvfrom resumed>[{x}], 65536, 0, NULL, NULL) = 7`,
		`157   <... recvfrom resumed>[{x}], 65536, 0, NULL, NULL) = 24`,
		`155   openat(AT_FDCWD</>, "/proc/sys/net/ipv4/conf/x/rp_filter", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 7`,
		`155   openat(AT_FDCWD</>, "/proc/self/cgroup", O_RDONLY|O_CLOEXEC) = 7`,
		`  0.10    0.000010           2         4           setns`,
		`  1.20    0.000120           2        60         3 openat`,
		`  0.50    0.000050           1        40           getdents64`,
		`100.00    0.010000           2      4000        12 total`,
	} {
		s.parse(l)
	}
	if s.requests["GETLINK"] != 1 || s.requests["GETLINK+dump"] != 1 || s.requests["NEWLINK"] != 1 || s.netlink() != 3 {
		t.Errorf("requests: %v", s.requests)
	}
	if s.recvB != 1024 {
		t.Errorf("netlink bytes read: %d, want 1000+24 (158's read was not a netlink one)", s.recvB)
	}
	if s.writeOpens != 1 || s.calls["setns"] != 4 {
		t.Errorf("opened for writing %d (want 1), setns %d (want 4)", s.writeOpens, s.calls["setns"])
	}
	if s.calls["openat"] != 60 || s.calls["getdents64"] != 40 || s.total != 4000 {
		t.Errorf("summary: %v total %d", s.calls, s.total)
	}
}
