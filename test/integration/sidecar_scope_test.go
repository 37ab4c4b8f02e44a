package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

// These tests cover Istio's Sidecar end to end: the webhook and status conditions of
// the object, the part of the mesh an Envoy sidecar (adsclient) is configured with
// under it, and real grpc-go proxyless traffic that a Sidecar scopes.

// scopeHTTPPort is the HTTP port of the Services the Envoy scoping tests create.
const scopeHTTPPort = 8080

func sidecarGVK(version string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "networking.istio.io", Version: version, Kind: "Sidecar"}
}

// scopeNamespace is newNamespace whose Sidecars and namespace are deleted when the
// test ends (a Sidecar scopes every proxy of its namespace, so none may outlive it).
func scopeNamespace(t *testing.T) string {
	t.Helper()
	ns := newNamespace(t)
	t.Cleanup(func() {
		ctx := context.Background()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(sidecarGVK("v1"))
		if err := env.Client.DeleteAllOf(ctx, u, client.InNamespace(ns)); err != nil {
			t.Errorf("delete the Sidecars of %s: %v", ns, err)
		}
		if err := env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	return ns
}

// meshRootNamespace is the root namespace meshd runs with: the Mesh's, else Istio's
// default (istio-system).
func meshRootNamespace(t *testing.T) string {
	t.Helper()
	var mesh meshv1alpha1.Mesh
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: meshv1alpha1.MeshName}, &mesh)
	switch {
	case apierrors.IsNotFound(err):
		return meshv1alpha1.DefaultRootNamespace
	case err != nil:
		t.Fatalf("get the Mesh: %v", err)
	}
	return mesh.Spec.WithDefaults().RootNamespace
}

// applySidecarIn applies a Sidecar manifest (no namespace) in ns.
func applySidecarIn(t *testing.T, ns, manifest string) {
	t.Helper()
	(&meshFixture{t: t, ns: ns}).apply(manifest)
}

// deleteSidecar deletes a Sidecar, tolerating one already gone.
func deleteSidecar(t *testing.T, ns, name string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(sidecarGVK("v1"))
	u.SetNamespace(ns)
	u.SetName(name)
	if err := env.Client.Delete(context.Background(), u); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete Sidecar %s/%s: %v", ns, name, err)
	}
}

// createHTTPService creates a Service "web" with one HTTP port in ns and returns its
// FQDN.
func createHTTPService(t *testing.T, ns string) string {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http-web", Port: scopeHTTPPort}},
			Selector: map[string]string{"app": "web"}},
	}
	if err := env.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("web.%s.svc.cluster.local", ns)
}

// scopedSidecar connects an Envoy-style ADS client for pod in ns with labels (a pod
// name of its own, so two of them are two proxies).
func scopedSidecar(t *testing.T, ctx context.Context, ns, pod string, labels map[string]string) *adsclient.Client {
	t.Helper()
	return proxyNode(t, ctx, fmt.Sprintf("sidecar~10.1.0.7~%s.%s~%s.svc.cluster.local", pod, ns, ns), labels)
}

// sees reports what an Envoy sidecar holds for a service's HTTP port: its cluster,
// and its virtual host in the port's route configuration.
func sees(st adsclient.State, host string) (cluster, vhost bool) {
	_, cluster = st.Clusters[fmt.Sprintf("outbound|%d||%s", scopeHTTPPort, host)]
	return cluster, slices.Contains(vhostNames(st), fmt.Sprintf("%s:%d", host, scopeHTTPPort))
}

// seesAll reports whether the sidecar holds the cluster and virtual host of every
// host in want and of none in gone.
func seesAll(st adsclient.State, want, gone []string) bool {
	for _, h := range want {
		if c, v := sees(st, h); !c || !v {
			return false
		}
	}
	for _, h := range gone {
		if c, v := sees(st, h); c || v {
			return false
		}
	}
	return true
}

// vhostNames are the virtual hosts of the route configuration of scopeHTTPPort.
func vhostNames(st adsclient.State) []string {
	var out []string
	for _, vh := range st.Routes[fmt.Sprint(scopeHTTPPort)].GetVirtualHosts() {
		out = append(out, vh.GetName())
	}
	return out
}

// catchAll is the virtual host of scopeHTTPPort's route configuration that takes
// every other domain, nil if none.
func catchAll(st adsclient.State) *routev3.VirtualHost {
	for _, vh := range st.Routes[fmt.Sprint(scopeHTTPPort)].GetVirtualHosts() {
		if slices.Equal(vh.GetDomains(), []string{"*"}) {
			return vh
		}
	}
	return nil
}

// outboundFallback is the cluster virtualOutbound's default filter chain proxies
// unclaimed connections to ("" if none).
func outboundFallback(st adsclient.State) string {
	var tp tcpproxyv3.TcpProxy
	fs := st.Listeners["virtualOutbound"].GetDefaultFilterChain().GetFilters()
	if len(fs) == 0 || fs[0].GetTypedConfig().UnmarshalTo(&tp) != nil {
		return ""
	}
	return tp.GetCluster()
}

// registryOnly reports whether the sidecar blocks unknown destinations as
// REGISTRY_ONLY does: block_all answering 502, and BlackHoleCluster for unclaimed
// connections.
func registryOnly(st adsclient.State) bool {
	vh := catchAll(st)
	if vh.GetName() != "block_all" || len(vh.GetRoutes()) != 1 || vh.GetRoutes()[0].GetDirectResponse().GetStatus() != 502 {
		return false
	}
	return outboundFallback(st) == "BlackHoleCluster"
}

// allowAny reports whether unknown destinations pass through (ALLOW_ANY).
func allowAny(st adsclient.State) bool {
	vh := catchAll(st)
	return vh.GetName() == "allow_any" && vh.GetRoutes()[0].GetRoute().GetCluster() == "PassthroughCluster" &&
		outboundFallback(st) == "PassthroughCluster"
}

func noNacks(t *testing.T, name string, c *adsclient.Client) {
	t.Helper()
	if st := c.Snapshot(); len(st.Nacks) > 0 {
		t.Errorf("%s rejected meshd's config: %v", name, st.Nacks)
	}
}

// waitState waits for cond on c's state, failing with what it holds.
func waitState(t *testing.T, ctx context.Context, c *adsclient.Client, what string, cond func(adsclient.State) bool) {
	t.Helper()
	start := time.Now()
	if err := c.Wait(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

// sidecarCondition waits until a Sidecar's condition of condType matches.
func sidecarCondition(t *testing.T, ns, name, condType, status, reason string, message ...string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testutil.Eventually(t, statusTimeout, func() error {
		c := condition(t, sidecarGVK("v1"), ns, name, condType)
		if c == nil {
			return fmt.Errorf("Sidecar %s: no %s condition for the current generation yet", name, condType)
		}
		if string(c.Status) != status || c.Reason != reason {
			return fmt.Errorf("Sidecar %s: %s = %s/%s (%s), want %s/%s", name, condType, c.Status, c.Reason, c.Message, status, reason)
		}
		for _, m := range message {
			if !strings.Contains(c.Message, m) {
				return fmt.Errorf("Sidecar %s: %s message %q does not mention %q", name, condType, c.Message, m)
			}
		}
		got = *c
		return nil
	})
	return got
}

// TestSidecarResourceValidationAndStatus: the validation webhook refuses an invalid
// Sidecar in every served version, naming each field; a valid one is Accepted with
// its generation; a second Sidecar without workloadSelector in a namespace is
// Conflicted, naming the first (and accepted once the first is gone); a Unix domain
// socket egress listener is Accepted and programmed (an Envoy-style sidecar gets its
// listener and routes); an egress host naming no service is HostNotFound; and an object written as v1alpha3 is read and
// translated like a v1 one.
func TestSidecarResourceValidationAndStatus(t *testing.T) {
	ctx := context.Background()
	ns := scopeNamespace(t)

	// Invalid: a host without namespace/, and a catch-all listener that is not last.
	for _, version := range servedVersions("networking.istio.io") {
		t.Run("refused/"+version, func(t *testing.T) {
			obj := newObject(t, sidecarGVK(version), ns, "invalid", `
egress:
- hosts: [reviews.default.svc.cluster.local]
- port: {number: 9080, protocol: HTTP, name: http}
  hosts: [./*]
`)
			err := env.Client.Create(ctx, obj)
			if err == nil {
				t.Fatal("the API server stored an invalid Sidecar")
			}
			msg := err.Error()
			if !strings.Contains(msg, `admission webhook "validation.istio.io" denied the request`) {
				t.Errorf("refused, but not by the validation webhook: %v", err)
			}
			for _, f := range []string{"spec.egress[0].hosts[0]", "namespace/dnsName", "spec.egress[0].port", "must be the last listener"} {
				if !strings.Contains(msg, f) {
					t.Errorf("refusal %q does not mention %q", msg, f)
				}
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(sidecarGVK("v1"))
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "invalid"}, u); !apierrors.IsNotFound(err) {
				t.Errorf("after the refusal, get = %v, want NotFound", err)
			}
		})
	}

	// Valid, then updated: Accepted follows the generation.
	first := newObject(t, sidecarGVK("v1"), ns, "first", `
egress: [{hosts: ["./*", "istio-system/*"]}]
`)
	if err := env.Client.Create(ctx, first); err != nil {
		t.Fatalf("create a valid Sidecar: %v", err)
	}
	if c := accepted(t, sidecarGVK("v1"), ns, "first", 1); c.Status != metav1.ConditionTrue || c.Reason != typev1beta1.ReasonAccepted {
		t.Fatalf("Accepted = %s/%s (%s), want True/Accepted", c.Status, c.Reason, c.Message)
	}
	sidecarCondition(t, ns, "first", typev1beta1.ConditionResolvedRefs, "True", "ResolvedRefs")
	applySidecarIn(t, ns, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: first}
spec:
  egress: [{hosts: ["./*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`)
	if c := accepted(t, sidecarGVK("v1"), ns, "first", 2); c.Status != metav1.ConditionTrue {
		t.Fatalf("after the update Accepted = %s/%s (%s), want True", c.Status, c.Reason, c.Message)
	}

	// A second namespace-wide Sidecar, created later, conflicts with the first.
	applySidecarIn(t, ns, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: second}
spec:
  egress: [{hosts: ["*/*"]}]
`)
	sidecarCondition(t, ns, "second", typev1beta1.ConditionAccepted, "False", "Conflicted", ns+"/first")
	// The first stays accepted.
	sidecarCondition(t, ns, "first", typev1beta1.ConditionAccepted, "True", typev1beta1.ReasonAccepted)

	// A Unix domain socket egress listener: the sidecars it applies to get a listener
	// on the socket and a route configuration named after it, with a virtual host per
	// imported service port, told apart by the Host header's port.
	web := createHTTPService(t, ns)
	applySidecarIn(t, ns, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: with-ingress}
spec:
  workloadSelector: {labels: {app: ingress}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8080
  - port: {number: 9090, protocol: TCP, name: tcp}
    bind: 10.1.2.3
    captureMode: NONE
  egress:
  - port: {number: 0, protocol: HTTP, name: uds}
    bind: unix:///var/run/egress.sock
    captureMode: NONE
    hosts: ["./*"]
  - hosts: ["./*"]
`)
	sidecarCondition(t, ns, "with-ingress", typev1beta1.ConditionAccepted, "True", typev1beta1.ReasonAccepted)
	udsCtx, cancelUDS := context.WithTimeout(ctx, time.Minute)
	defer cancelUDS()
	uds := scopedSidecar(t, udsCtx, ns, "uds-client", map[string]string{"app": "ingress"})
	const socket = "unix:///var/run/egress.sock"
	webPort := fmt.Sprintf("%s:%d", web, scopeHTTPPort)
	waitState(t, udsCtx, uds, "the Unix domain socket listener and its routes", func(st adsclient.State) bool {
		l := st.Listeners[socket+"_0"]
		if l.GetAddress().GetPipe().GetPath() != "/var/run/egress.sock" {
			return false
		}
		for _, vh := range st.Routes[socket].GetVirtualHosts() {
			if vh.GetName() == webPort && slices.Contains(vh.GetDomains(), webPort) &&
				vh.GetRoutes()[0].GetRoute().GetCluster() == fmt.Sprintf("outbound|%d||%s", scopeHTTPPort, web) {
				return st.Clusters[fmt.Sprintf("outbound|%d||%s", scopeHTTPPort, web)] != nil
			}
		}
		return false
	})
	noNacks(t, "the sidecar with a Unix domain socket listener", uds)

	// An egress host that names one service no Service is.
	missing := fmt.Sprintf("./nosuch.%s.svc.cluster.local", ns)
	applySidecarIn(t, ns, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: missing-host}
spec:
  workloadSelector: {labels: {app: missing}}
  egress: [{hosts: ["`+missing+`", "istio-system/*"]}]
`)
	sidecarCondition(t, ns, "missing-host", typev1beta1.ConditionAccepted, "True", typev1beta1.ReasonAccepted)
	sidecarCondition(t, ns, "missing-host", typev1beta1.ConditionResolvedRefs, "False", "HostNotFound",
		"egress host "+missing+" matches no service")

	// An older version is served and translated alike.
	applySidecarIn(t, ns, `
apiVersion: networking.istio.io/v1alpha3
kind: Sidecar
metadata: {name: old-version}
spec:
  workloadSelector: {labels: {app: old}}
  egress: [{port: {number: 9080, protocol: HTTP, name: http}, hosts: ["./*"]}, {hosts: ["istio-system/*"]}]
`)
	if v1 := get(t, sidecarGVK("v1"), ns, "old-version"); v1.GetAPIVersion() != "networking.istio.io/v1" {
		t.Errorf("read back as %s, want networking.istio.io/v1", v1.GetAPIVersion())
	}
	if c := accepted(t, sidecarGVK("v1"), ns, "old-version", 1); c.Status != metav1.ConditionTrue || c.Reason != typev1beta1.ReasonAccepted {
		t.Errorf("v1alpha3 Sidecar: Accepted = %s/%s (%s), want True/Accepted", c.Status, c.Reason, c.Message)
	}

	// With the first gone, the second is the namespace's Sidecar.
	deleteSidecar(t, ns, "first")
	sidecarCondition(t, ns, "second", typev1beta1.ConditionAccepted, "True", typev1beta1.ReasonAccepted)
}

// TestSidecarScopeEnvoyEgress: an Envoy sidecar in namespace A sees B's service until
// A's Sidecar imports only ./*; then, on the same stream, B's cluster and virtual host
// go and A's stay; REGISTRY_ONLY turns the catch-all virtual host into block_all and
// virtualOutbound's fallback into BlackHoleCluster; deleting the Sidecar brings B and
// allow_any back.
func TestSidecarScopeEnvoyEgress(t *testing.T) {
	nsA, nsB := scopeNamespace(t), scopeNamespace(t)
	hostA, hostB := createHTTPService(t, nsA), createHTTPService(t, nsB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c := sidecar(t, ctx, nsA)
	waitState(t, ctx, c, "without a Sidecar the client sees A and B", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA, hostB}, nil) && allowAny(st)
	})

	applySidecarIn(t, nsA, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["./*"]}]
`)
	waitState(t, ctx, c, "with ./* B is gone and A stays", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA}, []string{hostB}) && allowAny(st)
	})

	applySidecarIn(t, nsA, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["./*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`)
	waitState(t, ctx, c, "REGISTRY_ONLY blocks unknown destinations", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA}, []string{hostB}) && registryOnly(st)
	})
	if st := c.Snapshot(); st.Clusters["BlackHoleCluster"] == nil {
		t.Errorf("virtualOutbound falls back to BlackHoleCluster, which the sidecar does not have: %s", st.Summary())
	}

	deleteSidecar(t, nsA, "default")
	waitState(t, ctx, c, "without the Sidecar B is back", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA, hostB}, nil) && allowAny(st)
	})
	noNacks(t, "the sidecar", c)
}

// TestSidecarScopeEnvoyResubscribe: a Sidecar importing nothing (~/*) leaves an Envoy
// sidecar no HTTP listener, so it unsubscribes from its route configurations, as
// Envoy does; once the Sidecar is gone it subscribes again, and meshd must send the
// route configuration again even though it is the same as before (the proxy dropped
// it, whatever version it last acknowledged).
func TestSidecarScopeEnvoyResubscribe(t *testing.T) {
	nsA, nsB := scopeNamespace(t), scopeNamespace(t)
	hostA, hostB := createHTTPService(t, nsA), createHTTPService(t, nsB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listener := fmt.Sprintf("0.0.0.0_%d", scopeHTTPPort)

	c := sidecar(t, ctx, nsA)
	waitState(t, ctx, c, "without a Sidecar the client sees A and B", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA, hostB}, nil) && allowAny(st)
	})
	applySidecarIn(t, nsA, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["~/*"]}]
`)
	waitState(t, ctx, c, "with ~/* the client has no listener or cluster of either", func(st adsclient.State) bool {
		// (adsclient keeps route configurations it no longer follows: only the
		// listener and the clusters say what the sidecar has now.)
		clusterA, _ := sees(st, hostA)
		clusterB, _ := sees(st, hostB)
		return st.Listeners[listener] == nil && !clusterA && !clusterB
	})
	// The route configurations and endpoints the sidecar unsubscribed from, and how
	// many of each meshd has sent so far.
	follows := map[string]string{
		"type.googleapis.com/envoy.config.route.v3.RouteConfiguration":       "route configuration",
		"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "cluster load assignment",
	}
	sent := c.Snapshot().Received

	deleteSidecar(t, nsA, "default")
	waitState(t, ctx, c, "without the Sidecar the HTTP listener and the clusters are back", func(st adsclient.State) bool {
		clusterA, _ := sees(st, hostA)
		clusterB, _ := sees(st, hostB)
		return st.Listeners[listener] != nil && clusterA && clusterB
	})
	for typeURL, what := range follows {
		wait, stop := context.WithTimeout(ctx, 5*time.Second)
		err := c.Wait(wait, func(st adsclient.State) bool { return st.Received[typeURL] > sent[typeURL] })
		stop()
		if err != nil {
			t.Errorf("the sidecar subscribed again to the %ss it had dropped, but meshd sent it none "+
				"(Envoy forgets what it unsubscribes from, so it would wait for them): %v", what, err)
		}
	}
	if st := c.Snapshot(); !seesAll(st, []string{hostA, hostB}, nil) || !allowAny(st) {
		t.Errorf("without the Sidecar, the client does not see A and B: %s", st.Summary())
	}
	noNacks(t, "the sidecar", c)
}

// TestSidecarScopeWorkloadSelector: a Sidecar with a workloadSelector applies to the
// workloads its labels select, before the namespace's own Sidecar, which applies to
// the namespace's other workloads.
func TestSidecarScopeWorkloadSelector(t *testing.T) {
	nsA, nsB := scopeNamespace(t), scopeNamespace(t)
	hostA, hostB := createHTTPService(t, nsA), createHTTPService(t, nsB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	selected := scopedSidecar(t, ctx, nsA, "restricted-1", map[string]string{"app": "restricted"})
	other := sidecarWithLabels(t, ctx, nsA, map[string]string{"app": "other"})
	for name, c := range map[string]*adsclient.Client{"selected": selected, "other": other} {
		waitState(t, ctx, c, name+" sees A and B", func(st adsclient.State) bool { return seesAll(st, []string{hostA, hostB}, nil) })
	}

	applySidecarIn(t, nsA, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: restricted}
spec:
  workloadSelector: {labels: {app: restricted}}
  egress: [{hosts: ["./*"]}]
`)
	waitState(t, ctx, selected, "the selected client loses B", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA}, []string{hostB})
	})
	// The Sidecar changed nothing for the other client: it still sees both, and
	// keeps seeing them once the selected client's config has changed.
	if st := other.Snapshot(); !seesAll(st, []string{hostA, hostB}, nil) {
		t.Errorf("a Sidecar selecting app=restricted scoped a client labelled app=other: %s", st.Summary())
	}

	// A namespace-wide Sidecar importing only B: the other client follows it, the
	// selected one keeps its own.
	applySidecarIn(t, nsA, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["`+nsB+`/*"]}]
`)
	waitState(t, ctx, other, "the other client follows the namespace's Sidecar", func(st adsclient.State) bool {
		return seesAll(st, []string{hostB}, []string{hostA})
	})
	if st := selected.Snapshot(); !seesAll(st, []string{hostA}, []string{hostB}) {
		t.Errorf("the namespace's Sidecar overrode the one selecting the client: %s", st.Summary())
	}
	noNacks(t, "the selected client", selected)
	noNacks(t, "the other client", other)
}

// TestSidecarScopeRootNamespace: a namespace-wide Sidecar in the root namespace applies
// to namespaces without one of their own, "." being the client's namespace; a
// namespace's own Sidecar takes precedence; deleting the root one restores the mesh.
func TestSidecarScopeRootNamespace(t *testing.T) {
	root := meshRootNamespace(t)
	nsA, nsB := scopeNamespace(t), scopeNamespace(t)
	hostA, hostB := createHTTPService(t, nsA), createHTTPService(t, nsB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// B's own Sidecar imports everything.
	applySidecarIn(t, nsB, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["*/*"]}]
`)
	inA, inB := sidecar(t, ctx, nsA), sidecar(t, ctx, nsB)
	for name, c := range map[string]*adsclient.Client{"A": inA, "B": inB} {
		waitState(t, ctx, c, "without a root Sidecar "+name+" sees both", func(st adsclient.State) bool {
			return seesAll(st, []string{hostA, hostB}, nil)
		})
	}

	name := "scope-" + nsA // a name of this test's own in the shared root namespace
	t.Cleanup(func() { deleteSidecar(t, root, name) })
	applySidecarIn(t, root, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: `+name+`}
spec:
  egress: [{hosts: ["./*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`)
	waitState(t, ctx, inA, "the root Sidecar scopes A to its own namespace", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA}, []string{hostB}) && registryOnly(st)
	})
	if st := inB.Snapshot(); !seesAll(st, []string{hostA, hostB}, nil) || !allowAny(st) {
		t.Errorf("B has a Sidecar of its own, yet the root namespace's applied to it: %s", st.Summary())
	}
	sidecarCondition(t, root, name, typev1beta1.ConditionAccepted, "True", typev1beta1.ReasonAccepted)

	deleteSidecar(t, root, name)
	waitState(t, ctx, inA, "without the root Sidecar A sees both again", func(st adsclient.State) bool {
		return seesAll(st, []string{hostA, hostB}, nil) && allowAny(st)
	})
	noNacks(t, "A's sidecar", inA)
	noNacks(t, "B's sidecar", inB)
}

// TestSidecarScopeProxylessTraffic: a grpc-go proxyless client in namespace A calls a
// backend in B; once A's Sidecar imports only ./*, its listener for B is gone and calls
// to B fail while calls to A's service still succeed; importing B/* as well restores
// them, on the same channels.
func TestSidecarScopeProxylessTraffic(t *testing.T) {
	fa := &meshFixture{t: t, ns: scopeNamespace(t), backends: map[string]*grpcxds.Backend{}}
	fb := &meshFixture{t: t, ns: scopeNamespace(t), backends: map[string]*grpcxds.Backend{}}
	for _, f := range []*meshFixture{fa, fb} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: f.ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: servicePort}},
				Selector: map[string]string{"app": "reviews"}},
		}
		if err := env.Client.Create(context.Background(), svc); err != nil {
			t.Fatal(err)
		}
	}
	fa.addBackend("reviews-in-a", "v1")
	fb.addBackend("reviews-in-b", "v1")

	toA := fa.client("client-to-a")
	cfg := fa.clientConfig("client-to-b", nil) // a client in A ...
	cfg.Target = fmt.Sprintf("xds:///%s:%d", fb.host(), servicePort)
	toB := grpcxds.NewClient(t, cfg) // ... calling B's service

	waitFor(t, toB, nil, func(m map[string]int) bool { return m["reviews-in-b"] == 20 })
	waitFor(t, toA, nil, func(m map[string]int) bool { return m["reviews-in-a"] == 20 })

	fa.apply(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["./*"]}]
`)
	counts, took := waitFor(t, toB, nil, func(m map[string]int) bool { return m["Unavailable"] == 20 })
	t.Logf("calls to B fail %v after the Sidecar: %v", took.Round(time.Millisecond), counts)
	// B's listener goes before B's cluster (make before break), and calls stay failing
	// on the removed listener. (Polled: the calls counted above may end in between.)
	var err error
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, _, err = toB.Call(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "ListenerResource") || !strings.Contains(err.Error(), "has been removed") {
			return fmt.Errorf("a call to B: %v, want UNAVAILABLE because its listener resource has been removed", err)
		}
		return nil
	})
	t.Logf("a call to B under ./*: %v", err)
	if counts := toA.Spread(context.Background(), 20, nil); counts["reviews-in-a"] != 20 {
		t.Errorf("calls to A's own service under ./*: %v, want all 20 answered by reviews-in-a", counts)
	}

	fa.apply(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["./*", "` + fb.ns + `/*"]}]
`)
	// A client that connects now gets B's listener: the scope's config is right.
	cfg.NodeID = grpcxds.NodeID("127.0.0.1", "client-to-b-new", fa.ns)
	waitFor(t, grpcxds.NewClient(t, cfg), nil, func(m map[string]int) bool { return m["reviews-in-b"] == 20 })
	// The channel that lost B's listener gets it back, with its route configuration,
	// on its same ADS stream. (grpc-go unsubscribed from the route configuration when
	// the listener went; it asks for it again, with the RDS version it last acked.)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, took, err = toB.WaitFor(ctx, 20, nil, func(m map[string]int) bool { return m["reviews-in-b"] == 20 })
	if err != nil {
		t.Fatalf("after importing %s/* again, the client that called B before still cannot: %v", fb.ns, err)
	}
	t.Logf("calls to B succeed again %v after importing %s/*: %v", took.Round(time.Millisecond), fb.ns, counts)
	if counts := toA.Spread(context.Background(), 20, nil); counts["reviews-in-a"] != 20 {
		t.Errorf("calls to A's own service with %s/* imported too: %v", fb.ns, counts)
	}
}

// TestSidecarScopeIngress: a Sidecar's ingress listener reaches the sidecar it selects
// on its open stream: virtualInbound takes port 9080 (mesh mTLS or plaintext, as the
// namespace's PERMISSIVE default allows) to cluster inbound|9080||, which sends it to
// the application on the loopback's 8080 with the listener's connection pool; the
// sidecar ACKs it all, and loses it with the Sidecar.
func TestSidecarScopeIngress(t *testing.T) {
	ns := scopeNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := scopedSidecar(t, ctx, ns, "web-1", map[string]string{"app": "web"})
	takes9080 := func(st adsclient.State) bool {
		for _, fc := range st.Listeners["virtualInbound"].GetFilterChains() {
			if fc.GetFilterChainMatch().GetDestinationPort().GetValue() == 9080 {
				return true
			}
		}
		return false
	}
	waitState(t, ctx, c, "without a Sidecar the sidecar has virtualInbound", func(st adsclient.State) bool {
		return st.Listeners["virtualInbound"] != nil && !takes9080(st)
	})
	applySidecarIn(t, ns, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: web}
spec:
  workloadSelector: {labels: {app: web}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8080
    connectionPool: {tcp: {maxConnections: 7}}
`)
	waitState(t, ctx, c, "port 9080 goes to the application's 127.0.0.1:8080", func(st adsclient.State) bool {
		cl := st.Clusters["inbound|9080||"]
		if cl == nil || !takes9080(st) {
			return false
		}
		addr := cl.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		limits := cl.GetCircuitBreakers().GetThresholds()
		return addr.GetAddress() == "127.0.0.1" && addr.GetPortValue() == 8080 && len(limits) == 1 && limits[0].GetMaxConnections().GetValue() == 7
	})
	deleteSidecar(t, ns, "web")
	waitState(t, ctx, c, "without the Sidecar port 9080 passes through again", func(st adsclient.State) bool {
		return st.Clusters["inbound|9080||"] == nil && st.Listeners["virtualInbound"] != nil && !takes9080(st)
	})
	noNacks(t, "the sidecar", c)
}
