// Package manifests checks the Kubernetes manifests under deploy/ and the
// YAML and JSON examples in the documentation so that they cannot rot: every
// object is decoded strictly into its API type (an unknown or misspelt field
// fails), every qinq configuration inside a NetworkAttachmentDefinition goes
// through qinq's own validation (config.Parse) and a key check against the
// keys qinq reads (config.Keys), and every network a pod asks for must exist,
// with its cni-args accepted by that network's allow-lists and its mac and
// ips backed by the network's capabilities (Multus drops them silently
// otherwise).
package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/qinq-cni/qinq/pkg/node"
	"github.com/qinq-cni/qinq/pkg/policy"
)

var (
	scheme  = runtime.NewScheme()
	decoder runtime.Decoder
)

func init() {
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme, nadv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	decoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// Set is what a check has seen: the networks defined so far (by name) and
// the pods (by where they were found) whose network requests are checked
// against them once everything is read.
type Set struct {
	Networks map[string]*Network
	requests []request
	// Objects counts the typed objects decoded, per kind.
	Objects map[string]int
	// All is every configuration added, in order, variants of one name
	// included.
	All []*Network
	// Parent holds the networks a document may name without defining them
	// (a README pod may use a deploy/ network); its own definitions win.
	Parent *Set
	// Redefine lets a later definition of a network name replace an earlier
	// one (documentation shows variants of one network); pods are checked
	// against the last. In deploy/ a name is one object: redefining is an
	// error.
	Redefine bool
}

// Network is one CNI configuration, from a NetworkAttachmentDefinition or
// a documentation example.
type Network struct {
	Name   string
	Where  string
	Config []byte // a conf or a conflist
}

type request struct {
	where string
	nets  []nadv1.NetworkSelectionElement
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{Networks: map[string]*Network{}, Objects: map[string]int{}}
}

// AddYAML decodes every document of a YAML stream strictly into its API
// type and checks it.
func (s *Set) AddYAML(where string, data []byte) error {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := s.addObject(fmt.Sprintf("%s (document %d)", where, i), doc); err != nil {
			return err
		}
	}
}

func (s *Set) addObject(where string, doc []byte) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if string(js) == "null" {
		return nil // only comments, or an empty document between two ---
	}
	obj, gvk, err := decoder.Decode(js, nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	s.Objects[gvk.Kind]++
	switch o := obj.(type) {
	case *nadv1.NetworkAttachmentDefinition:
		return s.addNAD(where, o)
	case *corev1.Pod:
		return s.addPod(where, o.Annotations)
	case *appsv1.Deployment:
		return s.addPod(where+" pod template", o.Spec.Template.Annotations)
	case *appsv1.DaemonSet:
		return nil
	case *corev1.ConfigMap:
		return checkPolicyConfigMap(where, o)
	case *rbacv1.Role:
		return nil // docs/security.md: who may write NADs
	}
	return fmt.Errorf("%s: %s is not a kind the deploy/ manifests use", where, gvk.Kind)
}

func (s *Set) addNAD(where string, nad *nadv1.NetworkAttachmentDefinition) error {
	where = fmt.Sprintf("%s: NetworkAttachmentDefinition %q", where, nad.Name)
	n, err := s.AddConfig(where, []byte(nad.Spec.Config))
	if err != nil {
		return err
	}
	if n.Name != nad.Name {
		return fmt.Errorf("%s: the config's name %q differs from the object's name", where, n.Name)
	}
	return nil
}

// AddConfig checks a CNI configuration (a conf or a conflist) and records
// it as a network pods may ask for.
func (s *Set) AddConfig(where string, conf []byte) (*Network, error) {
	name, plugins, err := plugins(conf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	for i, p := range plugins {
		if err := checkPlugin(p, nil); err != nil {
			return nil, fmt.Errorf("%s: plugin %d: %w", where, i, err)
		}
	}
	if old, dup := s.Networks[name]; dup && !s.Redefine && !bytes.Equal(old.Config, conf) {
		return nil, fmt.Errorf("%s: network %q is also defined, differently, in %s", where, name, old.Where)
	}
	n := &Network{Name: name, Where: where, Config: conf}
	s.Networks[name] = n
	s.All = append(s.All, n)
	return n, nil
}

// addPod records a pod's network requests, decoded strictly.
func (s *Set) addPod(where string, annotations map[string]string) error {
	v, ok := annotations[nadv1.NetworkAttachmentAnnot]
	if !ok {
		return nil
	}
	nets, err := ParseNetworks(v)
	if err != nil {
		return fmt.Errorf("%s: annotation %s: %w", where, nadv1.NetworkAttachmentAnnot, err)
	}
	s.requests = append(s.requests, request{where, nets})
	return nil
}

// ParseNetworks decodes a k8s.v1.cni.cncf.io/networks value strictly. The
// NAD client's own UnmarshalJSON would accept unknown keys ("cniArgs" for
// "cni-args"): decode into a copy of the type without that method first.
func ParseNetworks(v string) ([]nadv1.NetworkSelectionElement, error) {
	type strictElement nadv1.NetworkSelectionElement
	var strict []strictElement
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&strict); err != nil {
		return nil, err
	}
	var nets []nadv1.NetworkSelectionElement
	if err := json.Unmarshal([]byte(v), &nets); err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Name == "" {
			return nil, fmt.Errorf("a network without a name")
		}
	}
	return nets, nil
}

// Resolve checks every pod's requests against the networks seen: the network
// exists, qinq accepts its cni-args, and a mac or ips request is backed by
// the capability (Multus drops it silently otherwise).
func (s *Set) Resolve() error {
	for _, r := range s.requests {
		for _, want := range r.nets {
			n, ok := s.lookup(want.Name)
			if !ok {
				return fmt.Errorf("%s: asks for network %q, defined nowhere (known: %s)", r.where, want.Name, strings.Join(s.names(), ", "))
			}
			if err := checkRequest(n, want); err != nil {
				return fmt.Errorf("%s: network %q: %w", r.where, want.Name, err)
			}
		}
	}
	return nil
}

func (s *Set) lookup(name string) (*Network, bool) {
	for ; s != nil; s = s.Parent {
		if n, ok := s.Networks[name]; ok {
			return n, true
		}
	}
	return nil, false
}

func (s *Set) names() []string {
	var out []string
	for n := range s.Networks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PolicyConfigMap is the ConfigMap the DaemonSet installs as the node policy,
// NodeConfigMap the one it installs as node.json.
const (
	PolicyConfigMap = "qinq-policy"
	NodeConfigMap   = "qinq-node"
)

// checkPolicyConfigMap: the only ConfigMaps deploy/ uses are the node
// policy and the node's settings, each one key that qinq's own parser
// accepts (the installer refuses any other).
func checkPolicyConfigMap(where string, cm *corev1.ConfigMap) error {
	where = fmt.Sprintf("%s: ConfigMap %q", where, cm.Name)
	key, check := policy.File, func(data []byte) error { _, err := policy.Parse(data); return err }
	if cm.Name == NodeConfigMap {
		key, check = node.SettingsFile, func(data []byte) error { _, err := node.Parse(data); return err }
	}
	if cm.Name != PolicyConfigMap && cm.Name != NodeConfigMap || len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
		return fmt.Errorf("%s: the only ConfigMaps are %q (one key, policy.json) and %q (one key, node.json)", where, PolicyConfigMap, NodeConfigMap)
	}
	data, ok := cm.Data[key]
	if !ok {
		return fmt.Errorf("%s: no key %s", where, key)
	}
	if err := check([]byte(data)); err != nil {
		return fmt.Errorf("%s: %s: %w", where, key, err)
	}
	return nil
}
