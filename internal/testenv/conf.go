package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// Conf is a network configuration under construction. Its methods return
// a changed copy, so one base config can seed many cases.
type Conf map[string]any

// QinQ is the start of a qinq network configuration.
func QinQ(cniVersion, name string) Conf {
	return Conf{"cniVersion": cniVersion, "name": name, "type": "qinq"}
}

// OnMaster makes c a kernel-mode network on master: S-VLAN sVlan (802.1ad
// unless sProto says otherwise) and the C-VLANs given (none: tunnel mode).
func (c Conf) OnMaster(master string, sVlan int, cVlans ...int) Conf {
	return c.With("master", master).vlans(sVlan, cVlans)
}

// OnBridge makes c a standalone Open vSwitch network on bridge.
func (c Conf) OnBridge(bridge string, sVlan int, cVlans ...int) Conf {
	return c.With("mode", "ovs", "bridge", bridge).vlans(sVlan, cVlans)
}

func (c Conf) vlans(sVlan int, cVlans []int) Conf {
	c = c.With("sVlan", sVlan)
	if len(cVlans) > 0 {
		c = c.With("cVlans", cVlans)
	}
	return c
}

// With sets keys: With("mtu", 1400, "mac", "02:00:5e:10:00:01").
func (c Conf) With(kv ...any) Conf {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("Conf.With: odd number of arguments %v", kv))
	}
	return edited(c, func(d Conf) {
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
	})
}

// Without removes keys.
func (c Conf) Without(keys ...string) Conf { return edited(c, nil, keys...) }

// edited is a copy of m with set applied and the keys in drop deleted: the
// maps the builders hand out are never changed afterwards.
func edited[M ~map[string]V, V any](m M, set func(M), drop ...string) M {
	d := maps.Clone(m)
	if d == nil {
		d = M{}
	}
	if set != nil {
		set(d)
	}
	for _, k := range drop {
		delete(d, k)
	}
	return d
}

// WithStaticIP gives the container one fixed address (the static IPAM plugin).
func (c Conf) WithStaticIP(cidr string) Conf {
	return c.With("ipam", map[string]any{"type": "static", "addresses": []map[string]string{{"address": cidr}}})
}

// WithHostLocal gives the container an address from subnet, allocated by
// host-local in its store dataDir: a leak there is an IPAM leak.
func (c Conf) WithHostLocal(dataDir, subnet string) Conf {
	return c.WithHostLocalRange(dataDir, map[string]string{"subnet": subnet})
}

// WithHostLocalRange is WithHostLocal with a whole range (rangeStart, rangeEnd).
func (c Conf) WithHostLocalRange(dataDir string, r map[string]string) Conf {
	return c.With("ipam", map[string]any{"type": "host-local", "dataDir": dataDir, "ranges": [][]map[string]string{{r}}})
}

// Bytes is the configuration as a plugin reads it on stdin.
func (c Conf) Bytes() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("Conf %v: %v", map[string]any(c), err))
	}
	return b
}

// AsList wraps c in a configuration list of the same name and version, as
// a runtime's config file would carry it.
func (c Conf) AsList(t testing.TB) *libcni.NetworkConfigList {
	t.Helper()
	list := Conf{"cniVersion": c["cniVersion"], "name": c["name"], "plugins": []Conf{c}}
	l, err := libcni.NetworkConfFromBytes(list.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return l
}
