package integration

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

// servicePort is the port the test Services expose; backends listen on loopback
// ephemeral ports, which the EndpointSlices carry as target ports.
const servicePort = 9080

// meshFixture is a namespace with a Service "reviews" whose endpoints are real grpc-go
// backends on loopback, one Pod and EndpointSlice per backend (envtest runs no
// controllers, so the test writes what kube-controller-manager would).
type meshFixture struct {
	t        *testing.T
	ns       string
	backends map[string]*grpcxds.Backend
}

func newMeshFixture(t *testing.T, versions ...string) *meshFixture {
	t.Helper()
	f := &meshFixture{t: t, ns: newNamespace(t), backends: map[string]*grpcxds.Backend{}}
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: f.ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: servicePort}},
			Selector: map[string]string{"app": "reviews"}},
	}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		f.addBackend("reviews-"+v, v)
	}
	return f
}

// addBackend starts a backend and publishes it as a pod of the given version.
func (f *meshFixture) addBackend(name, version string) *grpcxds.Backend {
	f.t.Helper()
	return f.addBackendOn(name, version, "")
}

// addBackendOn is addBackend with the endpoint on a node (for its locality).
func (f *meshFixture) addBackendOn(name, version, node string) *grpcxds.Backend {
	f.t.Helper()
	lis, err := testHost.Listen()
	if err != nil {
		f.t.Fatal(err)
	}
	return f.publishBackend(grpcxds.StartBackend(f.t, name, grpcxds.WithListener(lis)), version, node)
}

// addXDSBackend starts a backend that is itself a proxyless xDS server (its inbound
// listener, with mTLS and RBAC, comes from meshd), labelled app=reviews and version.
func (f *meshFixture) addXDSBackend(name, version string) *grpcxds.Backend {
	f.t.Helper()
	return f.addXDSBackendWith(name, version, nil)
}

// addXDSBackendWith is addXDSBackend with the bootstrap's certificate providers (the
// workload's mesh certificate, for mTLS).
func (f *meshFixture) addXDSBackendWith(name, version string, certProviders map[string]any) *grpcxds.Backend {
	f.t.Helper()
	lis, err := testHost.Listen()
	if err != nil {
		f.t.Fatal(err)
	}
	host := lis.Addr().(*net.TCPAddr).IP.String()
	b := grpcxds.StartBackend(f.t, name, grpcxds.WithListener(lis), grpcxds.WithXDSServer(grpcxds.XDSConfig{
		ServerAddr: env.XDSAddr,
		NodeID:     grpcxds.NodeID(host, name, f.ns),
		Metadata:   map[string]string{"GENERATOR": "grpc", "NAMESPACE": f.ns},
		Labels:     map[string]string{"app": "reviews", "version": version},

		CertificateProviders: certProviders,
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.WaitServing(ctx); err != nil {
		f.t.Fatal(err)
	}
	return f.publishBackend(b, version, "")
}

// publishBackend writes the Pod and EndpointSlice of a running backend.
func (f *meshFixture) publishBackend(b *grpcxds.Backend, version, node string) *grpcxds.Backend {
	f.t.Helper()
	ctx := context.Background()
	name := b.Name()
	f.backends[name] = b
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: map[string]string{"app": "reviews", "version": version}},
		Spec:       corev1.PodSpec{ServiceAccountName: "reviews", Containers: []corev1.Container{{Name: "app", Image: "reviews"}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		f.t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("grpc"), Port: ptr.To(int32(b.Port()))}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{b.Host()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: name, Namespace: f.ns},
		}},
	}
	if node != "" {
		slice.Endpoints[0].NodeName = ptr.To(node)
	}
	if err := env.Client.Create(ctx, slice); err != nil {
		f.t.Fatal(err)
	}
	return b
}

// removeBackend deletes a backend's EndpointSlice, as when its pod goes away.
func (f *meshFixture) removeBackend(name string) {
	f.t.Helper()
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	if err := env.Client.Delete(context.Background(), slice); err != nil {
		f.t.Fatal(err)
	}
}

// peerAuthentication is a PeerAuthentication manifest setting mode for the pods
// labelled app (for the whole namespace when app is "").
func peerAuthentication(name, app, mode string) string {
	selector := ""
	if app != "" {
		selector = "\n  selector: {matchLabels: {app: " + app + "}}"
	}
	return fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: %s}
spec:%s
  mtls: {mode: %s}
`, name, selector, mode)
}

// deleteObject deletes an object of the fixture's namespace.
func (f *meshFixture) deleteObject(group, version, kind, name string) {
	f.t.Helper()
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: version, Kind: kind})
	obj.SetNamespace(f.ns)
	obj.SetName(name)
	if err := env.Client.Delete(context.Background(), obj); err != nil {
		f.t.Fatalf("delete %s %s: %v", kind, name, err)
	}
}

// apply creates or replaces an Istio object in the fixture's namespace.
func (f *meshFixture) apply(manifest string) {
	f.t.Helper()
	obj := testutil.MustDecode(f.t, manifest)
	obj.SetNamespace(f.ns)
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(obj.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
			return env.Client.Create(ctx, obj.DeepCopy())
		}
		cur.Object["spec"] = obj.Object["spec"]
		return env.Client.Update(ctx, cur)
	})
	if err != nil {
		f.t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// host is the FQDN of the fixture's service.
func (f *meshFixture) host() string {
	return fmt.Sprintf("reviews.%s.svc.cluster.local", f.ns)
}

// client connects a proxyless gRPC client in the fixture's namespace to meshd.
func (f *meshFixture) client(name string) *grpcxds.Client {
	f.t.Helper()
	return f.clientIn(name, nil)
}

// clientIn is client with the proxy's locality in its bootstrap.
func (f *meshFixture) clientIn(name string, locality *grpcxds.Locality) *grpcxds.Client {
	f.t.Helper()
	return grpcxds.NewClient(f.t, f.clientConfig(name, locality))
}

// clientWithCerts is a client with xDS transport credentials and a mesh certificate
// (certificate providers), so CDS can turn mTLS on.
func (f *meshFixture) clientWithCerts(name string, certProviders map[string]any) *grpcxds.Client {
	f.t.Helper()
	cfg := f.clientConfig(name, nil)
	cfg.CertificateProviders, cfg.XDSCredentials = certProviders, true
	return grpcxds.NewClient(f.t, cfg)
}

func (f *meshFixture) clientConfig(name string, locality *grpcxds.Locality) grpcxds.XDSConfig {
	return grpcxds.XDSConfig{
		ServerAddr: env.XDSAddr,
		NodeID:     grpcxds.NodeID("127.0.0.1", name, f.ns),
		Metadata:   map[string]string{"GENERATOR": "grpc", "NAMESPACE": f.ns},
		Locality:   locality,
		Target:     fmt.Sprintf("xds:///%s:%d", f.host(), servicePort),
	}
}

// waitFor sends batches of calls until pred holds on one batch's counts.
func waitFor(t *testing.T, c *grpcxds.Client, md map[string]string, pred func(map[string]int) bool) (map[string]int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts, took, err := c.WaitFor(ctx, 20, mdOf(md), pred)
	if err != nil {
		t.Fatalf("traffic never matched: last counts %v: %v", counts, err)
	}
	return counts, took
}
