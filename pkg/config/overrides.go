package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Range is an inclusive span of VLAN IDs from an allow-list ("100-199").
type Range struct{ Lo, Hi VID }

// AllowList is overrideSVlans or overrideCVlans: the only values a pod may
// pick. Empty means the network allows no per-pod value for that key.
type AllowList []Range

// Allows reports whether v is in one of the ranges.
func (a AllowList) Allows(v VID) bool {
	for _, r := range a {
		if v >= r.Lo && v <= r.Hi {
			return true
		}
	}
	return false
}

func (a AllowList) String() string {
	var s []string
	for _, r := range a {
		if r.Lo == r.Hi {
			s = append(s, fmt.Sprintf("%q", fmt.Sprint(r.Lo)))
		} else {
			s = append(s, fmt.Sprintf("\"%d-%d\"", r.Lo, r.Hi))
		}
	}
	return "[" + strings.Join(s, ",") + "]"
}

// ParseAllowList reads ["100-199","300"].
func ParseAllowList(field string, items []string) (AllowList, error) {
	var out AllowList
	for i, item := range items {
		key := fmt.Sprintf("%s[%d]", field, i)
		lo, hi, isRange := strings.Cut(strings.TrimSpace(item), "-")
		if !isRange {
			hi = lo
		}
		l, errLo := strconv.Atoi(strings.TrimSpace(lo))
		h, errHi := strconv.Atoi(strings.TrimSpace(hi))
		if errLo != nil || errHi != nil || l > h {
			return nil, cnierr.InvalidConfig(key, "%q: must be an ID or a range \"LO-HI\" within 1-4094, e.g. \"100-199\" or \"300\"", item)
		}
		vl, err := toVID(key, l)
		if err != nil {
			return nil, err
		}
		vh, err := toVID(key, h)
		if err != nil {
			return nil, err
		}
		out = append(out, Range{vl, vh})
	}
	return out, nil
}

// podValues are per-attachment VLANs, from Multus cni-args (args.cni in the
// config) or CNI_ARGS. source says where, for the error messages.
type podValues struct {
	sVlan  *int
	cVlans []int
	source string
}

// argsCNI is the part of the config Multus fills from the pod's cni-args.
type argsCNI struct {
	Args struct {
		CNI struct {
			SVlan  *int  `json:"sVlan"`
			CVlans []int `json:"cVlans"`
		} `json:"cni"`
	} `json:"args"`
}

// cniArgs is what qinq reads from CNI_ARGS; other keys (K8S_POD_NAME, ...)
// are ignored.
type cniArgs struct {
	types.CommonArgs
	SVLAN  types.UnmarshallableString
	CVLANS types.UnmarshallableString
	MAC    types.UnmarshallableString
}

// readEnvMAC is CNI_ARGS MAC ("" when unset).
func readEnvMAC(env string) (string, error) {
	if env == "" {
		return "", nil
	}
	e := cniArgs{CommonArgs: types.CommonArgs{IgnoreUnknown: true}}
	if err := types.LoadArgs(env, &e); err != nil {
		return "", cnierr.InvalidEnv("CNI_ARGS", "%v", err)
	}
	return string(e.MAC), nil
}

// readPodValues collects the overrides: args.cni wins over CNI_ARGS, as the
// more specific of the two.
func readPodValues(stdin []byte, env string) ([]podValues, error) {
	var out []podValues
	var a argsCNI
	if err := json.Unmarshal(stdin, &a); err != nil {
		return nil, cnierr.InvalidConfig("args.cni", "must be an object with sVlan (integer) and cVlans (list of integers): %v", err)
	}
	if c := a.Args.CNI; c.SVlan != nil || c.CVlans != nil {
		out = append(out, podValues{c.SVlan, c.CVlans, "args.cni"})
	}
	if env == "" {
		return out, nil
	}
	e := cniArgs{CommonArgs: types.CommonArgs{IgnoreUnknown: true}}
	if err := types.LoadArgs(env, &e); err != nil {
		return nil, cnierr.InvalidEnv("CNI_ARGS", "%v", err)
	}
	pv, err := envPodValues(e)
	if err != nil || (pv.sVlan == nil && pv.cVlans == nil) {
		return out, err
	}
	return append([]podValues{pv}, out...), nil // applied first, so args.cni wins
}

func envPodValues(e cniArgs) (podValues, error) {
	pv := podValues{source: "CNI_ARGS"}
	if s := string(e.SVLAN); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			return pv, cnierr.InvalidConfig("sVlan", "per-pod value %q from CNI_ARGS SVLAN is not an integer", s)
		}
		pv.sVlan = &v
	}
	if s := string(e.CVLANS); s != "" {
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return pv, cnierr.InvalidConfig("cVlans", "per-pod value %q from CNI_ARGS CVLANS is not a comma-separated list of integers", s)
			}
			pv.cVlans = append(pv.cVlans, v)
		}
	}
	return pv, nil
}

// applyOverride replaces sVlan/cVlans by a pod's values, but only within the
// allow-lists the network config sets: the protection against a pod hopping
// into another tenant's VLAN.
func (c *Config) applyOverride(pv podValues) error {
	if pv.sVlan != nil {
		v, err := c.allowed("sVlan", *pv.sVlan, c.OverrideSVlans, "overrideSVlans", pv.source)
		if err != nil {
			return err
		}
		c.SVlan = v
	}
	if pv.cVlans == nil {
		return nil
	}
	if len(pv.cVlans) == 0 {
		// An empty list would switch to tunnel mode and hand the pod every C-VLAN.
		return cnierr.InvalidConfig("cVlans", "per-pod value from %s is empty: a pod may narrow to C-VLANs, never switch to tunnel mode", pv.source)
	}
	var vids []VID
	for _, id := range pv.cVlans {
		v, err := c.allowed("cVlans", id, c.OverrideCVlans, "overrideCVlans", pv.source)
		if err != nil {
			return err
		}
		vids = append(vids, v)
	}
	c.CVlans = vids
	return checkCVlans(vids)
}

func (c *Config) allowed(key string, id int, list AllowList, listKey, source string) (VID, error) {
	if len(list) == 0 {
		return 0, cnierr.InvalidConfig(key, "per-pod value %d from %s refused: this network allows no per-pod %s (set %s)", id, source, key, listKey)
	}
	if id < MinVID || id > MaxVID || !list.Allows(VID(id)) {
		return 0, cnierr.InvalidConfig(key, "per-pod value %d from %s is outside %s %s", id, source, listKey, list)
	}
	return VID(id), nil
}
