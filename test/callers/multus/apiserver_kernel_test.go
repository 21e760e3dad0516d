//go:build kerneltest

package multus

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// apiServer is the little of the Kubernetes API the Multus thin plugin
// uses: GET of one Pod and of NetworkAttachmentDefinitions, and the PUT of
// the pod's status with the network-status annotation. client-go sends that
// PUT as protobuf; it is decoded, kept, and answered with the Pod as JSON.
type apiServer struct {
	t         *testing.T
	namespace string
	pod       *corev1.Pod
	nads      map[string]*nadv1.NetworkAttachmentDefinition

	mu         sync.Mutex
	statuses   []*corev1.Pod // the status updates received
	unexpected []string      // requests it has no answer for
	events     []string      // reason: message of the events recorded
}

var scheme = runtime.NewScheme()

func init() {
	if err := corev1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// readManifest decodes one deploy/ file into obj, strictly.
func readManifest(t *testing.T, path string, obj any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// newAPIServer serves the Pod and the NADs of the given deploy/ files, in
// namespace "default", on 127.0.0.1 of the node where Multus runs, and
// returns a kubeconfig file pointing at it.
func newAPIServer(t *testing.T, where *testenv.Node, podFile string, nadFiles ...string) (*apiServer, string) {
	return newAPIServerIn(t, where, "default", podFile, nadFiles...)
}

// newAPIServerIn is newAPIServer with the Pod and the NADs in namespace.
func newAPIServerIn(t *testing.T, where *testenv.Node, namespace, podFile string, nadFiles ...string) (*apiServer, string) {
	s := &apiServer{t: t, namespace: namespace, pod: &corev1.Pod{}, nads: map[string]*nadv1.NetworkAttachmentDefinition{}}
	readManifest(t, podFile, s.pod)
	s.pod.Namespace, s.pod.UID = s.namespace, types.UID("6c1b6e5e-qinq-multus-test")
	for _, f := range nadFiles {
		nad := &nadv1.NetworkAttachmentDefinition{}
		readManifest(t, f, nad)
		nad.Namespace = s.namespace
		s.nads[nad.Name] = nad
	}
	var l net.Listener
	where.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			l, err = net.Listen("tcp4", "127.0.0.1:0")
		}
		return err
	})
	srv := &http.Server{Handler: s}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s, s.kubeconfig(l.Addr().String())
}

func (s *apiServer) kubeconfig(addr string) string {
	path := filepath.Join(s.t.TempDir(), "multus.kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://%s"}}]
users: [{name: multus, user: {token: fake}}]
contexts: [{name: fake, context: {cluster: fake, user: multus}}]
current-context: fake
`, addr)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	podPath := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", s.namespace, s.pod.Name)
	nadPrefix := fmt.Sprintf("/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/", s.namespace)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == podPath:
		s.answer(w, s.currentPod())
	case r.Method == http.MethodPut && r.URL.Path == podPath+"/status":
		s.statusUpdate(w, r)
	case r.Method == http.MethodPost && r.URL.Path == fmt.Sprintf("/api/v1/namespaces/%s/events", s.namespace):
		s.event(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, nadPrefix):
		if nad, ok := s.nads[strings.TrimPrefix(r.URL.Path, nadPrefix)]; ok {
			s.answer(w, withKind(nad, "k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"))
			return
		}
		s.notFound(w, r)
	default:
		s.notFound(w, r)
	}
}

// currentPod is the pod with the last status Multus wrote, as a real API
// server would return it.
func (s *apiServer) currentPod() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.statuses); n > 0 {
		return withKind(s.statuses[n-1], "v1", "Pod")
	}
	return withKind(s.pod, "v1", "Pod")
}

func (s *apiServer) statusUpdate(w http.ResponseWriter, r *http.Request) {
	if pod, ok := s.decodeProto(w, r).(*corev1.Pod); ok {
		s.mu.Lock()
		s.statuses = append(s.statuses, pod)
		s.mu.Unlock()
		s.answer(w, withKind(pod, "v1", "Pod"))
	}
}

// event takes the events Multus records (AddedInterface, ...) and keeps
// their messages.
func (s *apiServer) event(w http.ResponseWriter, r *http.Request) {
	if ev, ok := s.decodeProto(w, r).(*corev1.Event); ok {
		s.mu.Lock()
		s.events = append(s.events, ev.Reason+": "+ev.Message)
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		s.answer(w, withKind(ev, "v1", "Event"))
	}
}

// decodeProto decodes a request body client-go sent as protobuf; on failure
// it fails the test and answers 400.
func (s *apiServer) decodeProto(w http.ResponseWriter, r *http.Request) runtime.Object {
	body, _ := io.ReadAll(r.Body)
	obj, _, err := protobuf.NewSerializer(scheme, scheme).Decode(body, nil, nil)
	if err != nil {
		s.t.Errorf("%s %s (%s): not a protobuf object: %v", r.Method, r.URL.Path, r.Header.Get("Content-Type"), err)
		w.WriteHeader(http.StatusBadRequest)
	}
	return obj
}

func (s *apiServer) notFound(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.unexpected = append(s.unexpected, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":%q}`, r.URL.Path+" not found")
}

func (s *apiServer) answer(w http.ResponseWriter, obj any) {
	if err := json.NewEncoder(w).Encode(obj); err != nil {
		s.t.Errorf("encoding the answer: %v", err)
	}
}

// withKind sets apiVersion and kind, which client-go's decoder wants and
// the typed objects leave empty.
func withKind(obj runtime.Object, apiVersion, kind string) runtime.Object {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
	return obj
}

// networkStatus is the k8s.v1.cni.cncf.io/network-status Multus wrote last.
func (s *apiServer) networkStatus(t *testing.T) []nadv1.NetworkStatus {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		t.Fatalf("Multus never updated the pod's status (requests without an answer: %v)", s.unexpected)
	}
	var st []nadv1.NetworkStatus
	v := s.statuses[len(s.statuses)-1].Annotations[nadv1.NetworkStatusAnnot]
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		t.Fatalf("network-status %q: %v", v, err)
	}
	return st
}

// recorded returns the events Multus recorded, as "reason: message".
func (s *apiServer) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}
