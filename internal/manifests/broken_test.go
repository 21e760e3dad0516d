package manifests

import (
	"strings"
	"testing"
)

// The checker must fail on each kind of rot. Each case is a manifest or a
// Markdown document with one mistake, and what the error must say.

const nadHead = `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: tenants
spec:
  config: |
`

// nad wraps a CNI config in a NetworkAttachmentDefinition.
func nad(conf string) string {
	return nadHead + "    " + strings.ReplaceAll(conf, "\n", "\n    ") + "\n"
}

const goodConf = `{"cniVersion": "1.1.0", "name": "tenants", "type": "qinq", "master": "eth1", "sVlan": 100, "cVlans": [10],
 "overrideSVlans": ["100-199"], "overrideCVlans": ["10-20"], "capabilities": {"mac": true}, "ipam": {"type": "static"}}`

func pod(networks string) string {
	return "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    k8s.v1.cni.cncf.io/networks: '" + networks +
		"'\nspec:\n  containers:\n    - name: c\n      image: busybox\n"
}

func TestBroken_ManifestsFail(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"the good one passes", nad(goodConf) + pod(`[{"name": "tenants", "cni-args": {"sVlan": 150}, "mac": "02:00:00:00:00:01"}]`), ""},
		{"misspelt NAD field", strings.Replace(nad(goodConf), "  config:", "  confg:", 1), `unknown field "spec.confg"`},
		{"misspelt metadata field", strings.Replace(nad(goodConf), "  name: tenants", "  nmae: tenants", 1), `unknown field "metadata.nmae"`},
		{"duplicate field", strings.Replace(nad(goodConf), "kind:", "metadata: {}\nkind:", 1), "duplicate"},
		{"misspelt qinq key", nad(strings.Replace(goodConf, `"sVlan"`, `"svlan": 100, "sVlan"`, 1)), "unknown qinq key(s) svlan"},
		{"value qinq refuses", nad(strings.Replace(goodConf, `"sVlan": 100`, `"sVlan": 4095`, 1)), "sVlan: 4095"},
		{"config is not JSON", nad(strings.Replace(goodConf, `"cVlans": [10],`, `"cVlans": [10],,`, 1)), "not a JSON object"},
		{"config name differs", nad(strings.Replace(goodConf, `"name": "tenants"`, `"name": "other"`, 1)), "differs from the object's name"},
		{"a plugin without type", nad(`{"cniVersion": "1.0.0", "name": "tenants", "plugins": [{"bridge": "br0"}]}`), "type"},
		{"chained qinq plugin refused", nad(`{"cniVersion": "1.0.0", "name": "tenants", "plugins": [{"type": "ovs", "bridge": "br0"}, {"type": "qinq", "mode": "ovs", "sVlan": 5, "cVlans": [3]}]}`), "cVlans"},
		{"network defined twice, differently", nad(goodConf) + "---\n" + nad(strings.Replace(goodConf, `"sVlan": 100`, `"sVlan": 101`, 1)), "also defined, differently"},
		{"unknown kind", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n", "Service"},
		{"the policy ConfigMap passes", policyCM(`{"version": 1, "namespaces": {"a": {"sVlans": ["1-9"]}}}`), ""},
		{"a misspelt policy key", policyCM(`{"version": 1, "namespaces": {"a": {"sVlan": ["1-9"]}}}`), `unknown field "sVlan"`},
		{"a policy without version", policyCM(`{"namespaces": {}}`), "version"},
		{"another ConfigMap", strings.Replace(policyCM(`{"version": 1}`), "qinq-policy", "other", 1), "the only ConfigMaps"},
		{"the node ConfigMap passes", nodeCM(`{"version": 1, "ipamTypes": ["host-local"]}`), ""},
		{"a misspelt node key", nodeCM(`{"version": 1, "ipamtypes": ["host-local"]}`), `unknown field "ipamtypes"`},
		{"a node value qinq refuses", nodeCM(`{"version": 1, "ipamTypes": ["../sh"]}`), "ipamTypes[0]"},
		{"node.json in the policy's ConfigMap", strings.Replace(nodeCM(`{"version": 1}`), "qinq-node", "qinq-policy", 1), "no key policy.json"},
		{"misspelt container field", nad(goodConf) + strings.Replace(pod(`[{"name": "tenants"}]`), "image:", "imagee:", 1), `unknown field "spec.containers[0].imagee"`},
		{"misspelt selection key", nad(goodConf) + pod(`[{"name": "tenants", "cniArgs": {"sVlan": 150}}]`), `unknown field "cniArgs"`},
		{"annotation is not JSON", nad(goodConf) + pod(`[{"name": "tenants"`), "unexpected EOF"},
		{"unknown network", nad(goodConf) + pod(`[{"name": "tenant"}]`), `network "tenant", defined nowhere`},
		{"cni-args outside the allow-list", nad(goodConf) + pod(`[{"name": "tenants", "cni-args": {"sVlan": 250}}]`), "outside overrideSVlans"},
		{"cni-args of the wrong type", nad(goodConf) + pod(`[{"name": "tenants", "cni-args": {"sVlan": "150"}}]`), "args.cni"},
		{"mac without the capability", nad(strings.Replace(goodConf, `"mac": true`, `"ips": true`, 1)) + pod(`[{"name": "tenants", "mac": "02:00:00:00:00:01"}]`), "Multus would drop it"},
		{"ips without the capability", nad(goodConf) + pod(`[{"name": "tenants", "ips": ["10.0.0.1/24"]}]`), "Multus would drop them"},
		{"ips not a prefix", nad(strings.Replace(goodConf, `"mac": true`, `"ips": true`, 1)) + pod(`[{"name": "tenants", "ips": ["10.0.0.1"]}]`), "not an address/prefix"},
		{"deployment template", nad(goodConf) + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {a: b}\n  template:\n    metadata:\n      labels: {a: b}\n      annotations:\n        k8s.v1.cni.cncf.io/networks: '[{\"name\": \"nope\"}]'\n    spec:\n      containers: [{name: c, image: i}]\n", `"nope", defined nowhere`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSet()
			err := s.AddYAML(c.name, []byte(c.yaml))
			if err == nil {
				err = s.Resolve()
			}
			expectError(t, err, c.want)
		})
	}
}

func TestBroken_MarkdownExamplesFail(t *testing.T) {
	cases := []struct{ name, md, want string }{
		{"good", "```json\n" + goodConf + "\n```\n```yaml\nk8s.v1.cni.cncf.io/networks: '[{\"name\":\"tenants\",\"cni-args\":{\"cVlans\":[12]}}]'\n```\n", ""},
		{"log lines are not configs", "```json\n{\"level\":\"INFO\",\"msg\":\"ok\"}\n{\"msg\": …}\n```\n", ""},
		{"config with a trailing comma", "```json\n{\"cniVersion\": \"1.1.0\", \"name\": \"x\", \"type\": \"qinq\", \"master\": \"eth1\", \"sVlan\": 5,}\n```\n", "not a JSON object"},
		{"config qinq refuses", "```json\n" + strings.Replace(goodConf, `"cVlans": [10]`, `"cVlans": [10, 10]`, 1) + "\n```\n", "cVlans"},
		{"misspelt key", "```json\n" + strings.Replace(goodConf, `"master"`, `"parent": "x", "master"`, 1) + "\n```\n", "unknown qinq key(s) parent"},
		{"annotation naming an unknown network", "```yaml\nk8s.v1.cni.cncf.io/networks: '[{\"name\":\"nowhere\"}]'\n```\n", "defined nowhere"},
		{"annotation cni-args refused", "```json\n" + goodConf + "\n```\n```yaml\nk8s.v1.cni.cncf.io/networks: '[{\"name\":\"tenants\",\"cni-args\":{\"cVlans\":[]}}]'\n```\n", "never switch to tunnel mode"},
		{"YAML that is neither", "```yaml\n- just\n- a list\n```\n", "neither Kubernetes objects nor pod annotations"},
		{"object in YAML with a typo", "```yaml\n" + strings.Replace(nad(goodConf), "spec:", "sepc:", 1) + "```\n", `unknown field "sepc"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSet()
			_, err := s.AddMarkdown(c.name, []byte(c.md))
			if err == nil {
				err = s.Resolve()
			}
			expectError(t, err, c.want)
		})
	}
}

// expectError: want "" means no error; else an error containing want.
func expectError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("a good input failed: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("want an error containing %q, got %v", want, err)
	}
}

func nodeCM(settings string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: qinq-node\ndata:\n  node.json: |\n    " + settings + "\n"
}

func policyCM(policy string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: qinq-policy\ndata:\n  policy.json: |\n    " + policy + "\n"
}
