// The old caller of the manifest test: libcni 1.1.2, the libcni Debian
// bookworm's containerd 1.6.20 and podman 4.3.1 are built with (it knows CNI
// spec versions up to 1.0.0). A module of its own: one build holds one
// libcni, and the main module keeps the current one.
module github.com/qinq-cni/qinq/tools/libcni112

go 1.26.8

require github.com/containernetworking/cni v1.1.2
