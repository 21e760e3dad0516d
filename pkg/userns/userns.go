// Package userns answers one question about a pod's network namespace: is
// it owned by a user namespace of its own, below the one qinq runs in? The
// kernel lets a process act on every network namespace it holds an id for
// (a veth peer's or a lower link's link-netnsid) when it has CAP_NET_ADMIN in
// that namespace's owning user namespace: a pod in qinq's own (the host's,
// Kubernetes' hostUsers: true) has it for qinq's and the node's namespaces.
package userns

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// SelfPath names this process's own user namespace.
const SelfPath = "/proc/self/ns/user"

// maxDepth bounds the walk up: the kernel nests user namespaces at most 32 deep.
const maxDepth = 33

// ErrOwnUserNamespace: the network namespace belongs to qinq's own user
// namespace (the pod has no user namespace of its own).
var ErrOwnUserNamespace = errors.New("it is owned by qinq's own user namespace (a pod without a user namespace of its own: Kubernetes hostUsers: true)")

// ErrOutside: the owner is neither qinq's user namespace nor below it.
var ErrOutside = errors.New("it is owned by a user namespace outside the one qinq runs in")

// nsID identifies a namespace: the (device, inode) of its nsfs file.
type nsID struct{ dev, ino uint64 }

// Below returns nil when the user namespace that owns the network namespace
// at netnsPath is a strict descendant of this process's user namespace, and
// otherwise why not. The owner is read from the network namespace itself
// (NS_GET_USERNS); whatever cannot be read is an error: callers fail closed.
func Below(netnsPath string) error {
	self, err := idOfPath(SelfPath)
	if err != nil {
		return fmt.Errorf("qinq's own user namespace (%s): %w", SelfPath, err)
	}
	netns, err := unix.Open(netnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the network namespace %s: %w", netnsPath, err)
	}
	defer unix.Close(netns)
	if err := isNetNS(netns); err != nil {
		return fmt.Errorf("%s: %w", netnsPath, err)
	}
	owner, err := unix.IoctlRetInt(netns, unix.NS_GET_USERNS)
	if errors.Is(err, unix.EPERM) {
		return ErrOutside // the kernel hands out only owners within the caller's own
	}
	if err != nil {
		return fmt.Errorf("read the owner of the network namespace %s (NS_GET_USERNS): %w", netnsPath, err)
	}
	return below(owner, self)
}

// isNetNS refuses a file that is not a network namespace.
func isNetNS(fd int) error {
	kind, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("not a namespace (NS_GET_NSTYPE): %w", err)
	}
	if kind != unix.CLONE_NEWNET {
		return fmt.Errorf("not a network namespace (type %#x)", kind)
	}
	return nil
}

// below walks up from the user namespace fd (which it closes) until it meets
// self: at the first step it is self's own, later a descendant of it.
func below(fd int, self nsID) error {
	for depth := range maxDepth {
		id, err := idOfFD(fd)
		if err != nil {
			unix.Close(fd)
			return err
		}
		if id == self {
			unix.Close(fd)
			if depth == 0 {
				return ErrOwnUserNamespace
			}
			return nil
		}
		parent, err := unix.IoctlRetInt(fd, unix.NS_GET_PARENT)
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			return ErrOutside // the parent is beyond what this process may see
		}
		if err != nil {
			return fmt.Errorf("read a parent user namespace (NS_GET_PARENT): %w", err)
		}
		fd = parent
	}
	unix.Close(fd)
	return fmt.Errorf("no user namespace of this process within %d levels above the owner", maxDepth)
}

func idOfPath(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}

func idOfFD(fd int) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nsID{}, fmt.Errorf("stat a user namespace: %w", err)
	}
	return nsID{st.Dev, st.Ino}, nil
}
