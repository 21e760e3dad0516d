package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"
)

// Callers: every documented configuration must work with the libcni of
// today's callers (this module's, as in Multus v4.2 and containerd 2) and
// with libcni 1.1.2 (Debian bookworm's containerd 1.6.20 and podman 4.3.1),
// which knows spec versions up to 1.0.0 only: a config at 1.1.0 gets qinq's
// ADD done and then fails on the result ("unsupported CNI result version").
// The old libcni runs in its own module (tools/libcni112), one build holding
// one libcni; both sides call a fake exec that answers like qinq.

// QinQVersions is what qinq answers to VERSION (plugins/main/qinq): every
// spec version this module's libcni knows.
var QinQVersions = version.All.SupportedVersions()

// Outcome is what one libcni made of one configuration: the cniVersion of
// the ADD qinq got, or libcni's error.
type Outcome struct {
	Where string `json:"where"`
	Sent  string `json:"sent,omitempty"`
	Error string `json:"error,omitempty"`
}

// CurrentLibcni loads conf as a runtime does (a single conf becomes a list
// of one), validates it (VERSION of every plugin) and adds it, with this
// module's libcni.
func CurrentLibcni(where string, conf []byte) Outcome {
	o := Outcome{Where: where}
	if err := addWithCurrent(conf, &o.Sent); err != nil {
		o.Error = err.Error()
	}
	return o
}

func addWithCurrent(conf []byte, sent *string) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(conf, &probe); err != nil {
		return err
	}
	if _, isList := probe["plugins"]; !isList {
		// A single conf becomes a list of one, as callers upconvert .conf
		// files (what the deprecated libcni.ConfListFromConf does).
		var err error
		if conf, err = json.Marshal(map[string]any{"name": probe["name"], "cniVersion": probe["cniVersion"], "plugins": []json.RawMessage{conf}}); err != nil {
			return err
		}
	}
	list, err := libcni.NetworkConfFromBytes(conf)
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "qinq-libcni-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	cni := libcni.NewCNIConfigWithCacheDir([]string{"/fake"}, cache, &fakeQinQ{sent: sent})
	if _, err := cni.ValidateNetworkList(context.Background(), list); err != nil {
		return err
	}
	rt := &libcni.RuntimeConf{ContainerID: "example", NetNS: "/var/run/netns/example", IfName: "net1"}
	_, err = cni.AddNetworkList(context.Background(), list, rt)
	return err
}

// OldLibcni runs the networks through tools/libcni112's built binary.
func OldLibcni(tool string, nets []*Network) ([]Outcome, error) {
	type input struct {
		Where    string          `json:"where"`
		Config   json.RawMessage `json:"config"`
		Versions []string        `json:"versions"`
	}
	var in []input
	for _, n := range nets {
		in = append(in, input{n.Where, n.Config, QinQVersions})
	}
	data, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(tool)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", tool, err, stderr.String())
	}
	var outcomes []Outcome
	if err := json.Unmarshal(out, &outcomes); err != nil {
		return nil, fmt.Errorf("%s: %w", tool, err)
	}
	if len(outcomes) != len(nets) {
		return nil, fmt.Errorf("%s: %d outcomes for %d networks", tool, len(outcomes), len(nets))
	}
	return outcomes, nil
}

// fakeQinQ stands for every plugin of a list: VERSION answers with qinq's
// versions, ADD with a result at the version it was sent, as qinq does.
type fakeQinQ struct{ sent *string }

func (f *fakeQinQ) FindInPath(plugin string, _ []string) (string, error) {
	return "/fake/" + plugin, nil
}

func (f *fakeQinQ) Decode(b []byte) (version.PluginInfo, error) {
	return (&version.PluginDecoder{}).Decode(b)
}

func (f *fakeQinQ) ExecPlugin(_ context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Type       string `json:"type"`
	}
	if err := json.Unmarshal(stdin, &conf); err != nil {
		return nil, err
	}
	if slices.Contains(environ, "CNI_COMMAND=VERSION") {
		return json.Marshal(map[string]any{"cniVersion": conf.CNIVersion, "supportedVersions": QinQVersions})
	}
	if !slices.Contains(QinQVersions, conf.CNIVersion) {
		return nil, fmt.Errorf("%s: cniVersion %q not supported", path, conf.CNIVersion)
	}
	if conf.Type == "qinq" {
		*f.sent = conf.CNIVersion
	}
	return []byte(fmt.Sprintf(`{"cniVersion":%q,"interfaces":[{"name":"net1","mac":"02:00:5e:00:00:01","sandbox":"/var/run/netns/example"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}`, conf.CNIVersion)), nil
}
