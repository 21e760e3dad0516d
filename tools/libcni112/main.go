// Command libcni112 is the old caller the manifest test (internal/manifests)
// runs every documented CNI configuration through: libcni 1.1.2, as Debian
// bookworm's containerd 1.6.20 and podman 4.3.1 call plugins. It reads a JSON
// list of {"where", "config", "versions"} on stdin and writes one outcome per
// configuration: the cniVersion libcni sent to qinq, or libcni's error.
//
// The plugins are a fake exec (libcni's own test seam): VERSION answers with
// "versions" (qinq's), ADD with a result at the cniVersion it was sent, as
// qinq does. So what fails is what libcni 1.1.2 itself refuses: a config it
// cannot load, a version a plugin does not support, or a result version it
// does not know ("unsupported CNI result version").
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"
)

// Case is one configuration, a conf or a conflist.
type Case struct {
	Where    string          `json:"where"`
	Config   json.RawMessage `json:"config"`
	Versions []string        `json:"versions"` // what the plugins answer to VERSION
}

// Outcome is what libcni 1.1.2 made of a Case.
type Outcome struct {
	Where string `json:"where"`
	Sent  string `json:"sent,omitempty"` // the cniVersion of the ADD qinq got
	Error string `json:"error,omitempty"`
}

func main() {
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "libcni112: stdin:", err)
		os.Exit(2)
	}
	cache, err := os.MkdirTemp("", "libcni112-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "libcni112:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(cache)
	var out []Outcome
	for _, c := range cases {
		o := Outcome{Where: c.Where}
		if err := run(c, cache, &o.Sent); err != nil {
			o.Error = err.Error()
		}
		out = append(out, o)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// run loads c as a runtime does (a single conf becomes a list of one),
// validates it (VERSION of every plugin) and adds it.
func run(c Case, cache string, sent *string) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(c.Config, &probe); err != nil {
		return err
	}
	var list *libcni.NetworkConfigList
	if _, ok := probe["plugins"]; ok {
		l, err := libcni.ConfListFromBytes(c.Config)
		if err != nil {
			return err
		}
		list = l
	} else {
		conf, err := libcni.ConfFromBytes(c.Config)
		if err != nil {
			return err
		}
		if list, err = libcni.ConfListFromConf(conf); err != nil {
			return err
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{"/fake"}, cache, &fakeExec{versions: c.Versions, sent: sent})
	if _, err := cni.ValidateNetworkList(context.Background(), list); err != nil {
		return err
	}
	rt := &libcni.RuntimeConf{ContainerID: "example", NetNS: "/var/run/netns/example", IfName: "net1"}
	_, err := cni.AddNetworkList(context.Background(), list, rt)
	return err
}

// fakeExec stands for every plugin of a list.
type fakeExec struct {
	versions []string
	sent     *string
}

func (f *fakeExec) FindInPath(plugin string, _ []string) (string, error) {
	return "/fake/" + plugin, nil
}

func (f *fakeExec) Decode(b []byte) (version.PluginInfo, error) {
	return (&version.PluginDecoder{}).Decode(b)
}

func (f *fakeExec) ExecPlugin(_ context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Type       string `json:"type"`
	}
	if err := json.Unmarshal(stdin, &conf); err != nil {
		return nil, err
	}
	if slices.Contains(environ, "CNI_COMMAND=VERSION") {
		return json.Marshal(map[string]any{"cniVersion": conf.CNIVersion, "supportedVersions": f.versions})
	}
	if !slices.Contains(f.versions, conf.CNIVersion) {
		return nil, fmt.Errorf("%s: cniVersion %q not supported", path, conf.CNIVersion)
	}
	if conf.Type == "qinq" {
		*f.sent = conf.CNIVersion
	}
	return []byte(fmt.Sprintf(`{"cniVersion":%q,"interfaces":[{"name":"net1","mac":"02:00:5e:00:00:01","sandbox":"/var/run/netns/example"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}`, conf.CNIVersion)), nil
}
