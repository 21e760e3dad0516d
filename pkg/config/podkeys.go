package config

import (
	"encoding/json"
	"sort"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// podKeys are the only keys a pod's cni-args (args.cni) may set.
var podKeys = map[string]bool{"sVlan": true, "cVlans": true}

// refuseNetworkKeysInArgs refuses (code 7) a network key in args.cni: a
// pod's cni-args that name master, mode, an allow-list or a path must not
// look as if they had been applied (they never are).
func refuseNetworkKeysInArgs(stdin []byte) error {
	var a struct {
		Args struct {
			CNI map[string]json.RawMessage `json:"cni"`
		} `json:"args"`
	}
	if json.Unmarshal(stdin, &a) != nil {
		return nil // reported by readPodValues
	}
	keys := make([]string, 0, len(a.Args.CNI))
	for k := range a.Args.CNI {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, network := expected[k]; network && !podKeys[k] {
			return cnierr.InvalidConfig("args.cni."+k, "a network key, not a per-pod value: cni-args may only set sVlan and cVlans")
		}
	}
	return nil
}
