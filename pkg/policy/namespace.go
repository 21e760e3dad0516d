package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// NamespaceKey is the CNI_ARGS key Multus, containerd and CRI-O set.
const NamespaceKey = "K8S_POD_NAMESPACE"

// Namespace reads K8S_POD_NAMESPACE from CNI_ARGS (the runtime's, never the
// network config's: args.cni and runtimeConfig are not read). named is false
// when CNI_ARGS does not name one; a namespace given twice with different
// values, empty or not a DNS-1123 label is refused (code 102). The same
// value twice is what Multus hands its delegates (it adds its K8S_POD_* to
// the runtime's), and names one namespace.
func Namespace(cniArgs string) (ns string, named bool, err error) {
	for _, pair := range strings.Split(cniArgs, ";") {
		k, v, _ := strings.Cut(pair, "=")
		if k != NamespaceKey {
			continue
		}
		if named && v != ns {
			return "", false, cnierr.PolicyRefused("namespace", "%s is given more than once in CNI_ARGS, with different values", NamespaceKey)
		}
		ns, named = v, true
	}
	if !named {
		return "", false, nil
	}
	if err := ValidNamespace(ns); err != nil {
		return "", false, cnierr.PolicyRefused("namespace", "%s=%q in CNI_ARGS: %v", NamespaceKey, ns, err)
	}
	return ns, true, nil
}

// ValidNamespace is Kubernetes' rule for namespace names: a DNS-1123 label,
// 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit.
func ValidNamespace(ns string) error {
	switch {
	case ns == "":
		return errors.New("empty: a namespace name is 1-63 characters")
	case len(ns) > 63:
		return fmt.Errorf("%d characters, at most 63", len(ns))
	case strings.Trim(ns, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
		return errors.New("must be a DNS-1123 label: only a-z, 0-9 and '-'")
	case ns[0] == '-' || ns[len(ns)-1] == '-':
		return errors.New("must be a DNS-1123 label: it starts and ends with a letter or digit")
	}
	return nil
}
