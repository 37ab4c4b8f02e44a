package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/internal/testutil"
)

// injectionNamespace creates a namespace with the given labels.
func injectionNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "inj-", Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createPod creates an application pod through the API server (and so through its
// admission webhooks) and returns what was stored.
func createPod(t *testing.T, ns, name string, mutate func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "productpage", "version": "v1"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "productpage:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstrFromInt(9080)}}},
		}}},
	}
	if mutate != nil {
		mutate(pod)
	}
	if err := env.Client.Create(context.Background(), pod); err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return pod
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func hasContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// TestInjectionWebhook: pods in a namespace labelled istio-injection=enabled come back
// from the API server with Istio's sidecar wired to meshd; unlabelled namespaces,
// opted-out and hostNetwork pods are untouched; a pod that already has the sidecar gets
// nothing more; the proxy image follows the Mesh resource.
func TestInjectionWebhook(t *testing.T) {
	enabled := injectionNamespace(t, map[string]string{"istio-injection": "enabled"})
	plain := injectionNamespace(t, nil)

	pod := createPod(t, enabled, "productpage", nil)
	proxy := hasContainer(pod.Spec.Containers, "istio-proxy")
	if proxy == nil {
		proxy = hasContainer(pod.Spec.InitContainers, "istio-proxy") // native sidecar form
	}
	if proxy == nil || hasContainer(pod.Spec.InitContainers, "istio-init") == nil {
		t.Fatalf("not injected: containers %v, init containers %v", containerNames(pod.Spec.Containers), containerNames(pod.Spec.InitContainers))
	}
	if proxy.Image != meshv1alpha1.DefaultProxyImage {
		t.Errorf("proxy image %s, want the Mesh default %s", proxy.Image, meshv1alpha1.DefaultProxyImage)
	}
	var proxyConfig string
	for _, e := range proxy.Env {
		if e.Name == "PROXY_CONFIG" {
			proxyConfig = e.Value
		}
	}
	if !strings.Contains(proxyConfig, "meshd-xds.istio-system.svc:15012") {
		t.Errorf("PROXY_CONFIG does not point the agent at meshd: %q", proxyConfig)
	}
	if pod.Labels["security.istio.io/tlsMode"] != "istio" || pod.Annotations["sidecar.istio.io/status"] == "" {
		t.Errorf("Istio's labels and annotations missing: labels %v annotations %v", pod.Labels, pod.Annotations)
	}

	// Creating the injected pod again (as a controller re-creating it would) adds nothing.
	again := createPod(t, enabled, "productpage-again", func(p *corev1.Pod) {
		p.Labels, p.Annotations = pod.Labels, pod.Annotations
		p.Spec = *pod.Spec.DeepCopy()
	})
	if len(again.Spec.Containers) != len(pod.Spec.Containers) || len(again.Spec.InitContainers) != len(pod.Spec.InitContainers) || len(again.Spec.Volumes) != len(pod.Spec.Volumes) {
		t.Errorf("re-injection changed the pod: containers %v -> %v, init %v -> %v", containerNames(pod.Spec.Containers),
			containerNames(again.Spec.Containers), containerNames(pod.Spec.InitContainers), containerNames(again.Spec.InitContainers))
	}

	for name, tc := range map[string]struct {
		ns     string
		mutate func(*corev1.Pod)
	}{
		"unlabelled-namespace": {plain, nil},
		"opted-out":            {enabled, func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "false" }},
		"host-network":         {enabled, func(p *corev1.Pod) { p.Spec.HostNetwork = true }},
		"ambient":              {enabled, func(p *corev1.Pod) { p.Labels["istio.io/dataplane-mode"] = "ambient" }},
	} {
		p := createPod(t, tc.ns, name, tc.mutate)
		if len(p.Spec.Containers) != 1 || len(p.Spec.InitContainers) != 0 {
			t.Errorf("%s: pod was injected: containers %v, init %v", name, containerNames(p.Spec.Containers), containerNames(p.Spec.InitContainers))
		}
	}

	// The proxy image follows the Mesh resource.
	mesh := &meshv1alpha1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: meshv1alpha1.MeshName},
		Spec: meshv1alpha1.MeshSpec{Proxy: meshv1alpha1.MeshProxy{Image: "registry.example.com/istio/proxyv2:custom"}}}
	if err := env.Client.Create(context.Background(), mesh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mesh) })
	attempt := 0
	testutil.Eventually(t, 10*time.Second, func() error {
		attempt++
		p := createPod(t, enabled, fmt.Sprintf("custom-image-%d", attempt), nil)
		c := hasContainer(p.Spec.Containers, "istio-proxy")
		if c == nil {
			c = hasContainer(p.Spec.InitContainers, "istio-proxy")
		}
		if c == nil || c.Image != mesh.Spec.Proxy.Image {
			return fmt.Errorf("proxy container %+v, want image %s", c, mesh.Spec.Proxy.Image)
		}
		return nil
	})

	// Opting in from an unlabelled namespace.
	in := createPod(t, plain, "opted-in", func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "true" })
	if hasContainer(in.Spec.Containers, "istio-proxy") == nil && hasContainer(in.Spec.InitContainers, "istio-proxy") == nil {
		t.Errorf("a pod labelled sidecar.istio.io/inject=true was not injected: %v", containerNames(in.Spec.Containers))
	}
}
