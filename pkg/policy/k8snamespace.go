package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// K8sNamespaceKey is the CNI_ARGS key Multus, containerd and CRI-O set.
const K8sNamespaceKey = "K8S_POD_NAMESPACE"

// K8sNamespace reads K8S_POD_NAMESPACE from CNI_ARGS (the runtime's, never the
// network config's: args.cni and runtimeConfig are not read). named is false
// when CNI_ARGS does not name one; a namespace given twice with different
// values, empty or not a DNS-1123 label is refused (code 102). The same
// value twice is what Multus hands its delegates (it adds its K8S_POD_* to
// the runtime's), and names one namespace.
func K8sNamespace(cniArgs string) (k8sNS string, named bool, err error) {
	for _, pair := range strings.Split(cniArgs, ";") {
		k, v, _ := strings.Cut(pair, "=")
		if k != K8sNamespaceKey {
			continue
		}
		if named && v != k8sNS {
			return "", false, cnierr.PolicyRefused("namespace", "%s is given more than once in CNI_ARGS, with different values", K8sNamespaceKey)
		}
		k8sNS, named = v, true
	}
	if !named {
		return "", false, nil
	}
	if err := ValidK8sNamespace(k8sNS); err != nil {
		return "", false, cnierr.PolicyRefused("namespace", "%s=%q in CNI_ARGS: %v", K8sNamespaceKey, k8sNS, err)
	}
	return k8sNS, true, nil
}

// ValidK8sNamespace is Kubernetes' rule for namespace names: a DNS-1123 label,
// 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit.
func ValidK8sNamespace(k8sNS string) error {
	switch {
	case k8sNS == "":
		return errors.New("empty: a namespace name is 1-63 characters")
	case len(k8sNS) > 63:
		return fmt.Errorf("%d characters, at most 63", len(k8sNS))
	case strings.Trim(k8sNS, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
		return errors.New("must be a DNS-1123 label: only a-z, 0-9 and '-'")
	case k8sNS[0] == '-' || k8sNS[len(k8sNS)-1] == '-':
		return errors.New("must be a DNS-1123 label: it starts and ends with a letter or digit")
	}
	return nil
}
