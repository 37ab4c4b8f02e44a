package inject

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInjectErrors: annotations Istio would reject fail injection, naming the
// annotation, rather than producing a sidecar that does something else.
func TestInjectErrors(t *testing.T) {
	pod := func(annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}},
		}
	}
	withVolume := pod(nil)
	withVolume.Spec.Volumes = []corev1.Volume{{Name: "istio-envoy"}}
	withInit := pod(nil)
	withInit.Spec.InitContainers = []corev1.Container{{Name: "istio-init"}}
	noAddress := testConfig()
	noAddress.DiscoveryAddress = ""
	noImage := testConfig()
	noImage.ProxyImage = ""

	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		cfg  Config
		want string
	}{
		{"interception mode", pod(map[string]string{"sidecar.istio.io/interceptionMode": "MAGIC"}), testConfig(), "interceptionMode"},
		{"include CIDRs", pod(map[string]string{"traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8,nope"}), testConfig(), "includeOutboundIPRanges"},
		{"exclude CIDRs star", pod(map[string]string{"traffic.sidecar.istio.io/excludeOutboundIPRanges": "*"}), testConfig(), "excludeOutboundIPRanges"},
		{"inbound ports", pod(map[string]string{"traffic.sidecar.istio.io/includeInboundPorts": "80,http"}), testConfig(), "includeInboundPorts"},
		{"outbound port range", pod(map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "70000"}), testConfig(), "excludeOutboundPorts"},
		{"cpu", pod(map[string]string{"sidecar.istio.io/proxyCPU": "lots"}), testConfig(), "proxyCPU"},
		{"log level", pod(map[string]string{"sidecar.istio.io/logLevel": "loud"}), testConfig(), "logLevel"},
		{"rewrite flag", pod(map[string]string{"sidecar.istio.io/rewriteAppHTTPProbers": "maybe"}), testConfig(), "rewriteAppHTTPProbers"},
		{"volume clash", withVolume, testConfig(), "volume named istio-envoy"},
		{"container clash", withInit, testConfig(), "container named istio-init"},
		{"no discovery address", pod(nil), noAddress, "discovery address"},
		{"no image", pod(nil), noImage, "proxy image"},
		{"nil pod", nil, testConfig(), "nil pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inject(tc.pod, "shop", tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Inject error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestProxyImageAnnotationNeedsRepository: like Istio, a bare name in
// sidecar.istio.io/proxyImage is ignored (the template only takes a full reference).
func TestProxyImageAnnotationNeedsRepository(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"sidecar.istio.io/proxyImage": "proxyv2"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}},
	}
	out, err := Inject(pod, "shop", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Spec.Containers[1].Image; got != testConfig().ProxyImage {
		t.Errorf("proxy image = %q, want the configured one", got)
	}
}
