package inject

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	ns := func(labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: labels}}
	}
	pod := func(labels, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: labels, Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}},
		}
	}
	enabled := map[string]string{"istio-injection": "enabled"}
	hostNet := pod(nil, nil)
	hostNet.Spec.HostNetwork = true
	withProxy := pod(nil, nil)
	withProxy.Spec.Containers = append(withProxy.Spec.Containers, corev1.Container{Name: "istio-proxy"})
	nativeProxy := pod(nil, nil)
	nativeProxy.Spec.InitContainers = []corev1.Container{{Name: "istio-proxy"}}
	canary := Config{Revision: "canary"}

	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		ns     *corev1.Namespace
		cfg    Config
		inject bool
		reason string // a substring of Decision.Reason
	}{
		{"namespace enabled", pod(nil, nil), ns(enabled), Config{}, true, "istio-injection=enabled"},
		{"namespace disabled", pod(nil, nil), ns(map[string]string{"istio-injection": "disabled"}), Config{}, false, "istio-injection=disabled"},
		{"namespace unlabelled", pod(nil, nil), ns(nil), Config{}, false, "neither"},
		{"no namespace object", pod(nil, nil), nil, Config{}, false, "neither"},
		{"namespace enabled, canary revision", pod(nil, nil), ns(enabled), canary, false, "default revision"},
		{"namespace rev default matches default revision", pod(nil, nil), ns(map[string]string{"istio.io/rev": "default"}), Config{}, true, "istio.io/rev=default"},
		{"namespace rev match", pod(nil, nil), ns(map[string]string{"istio.io/rev": "canary"}), canary, true, "istio.io/rev=canary"},
		{"namespace rev mismatch", pod(nil, nil), ns(map[string]string{"istio.io/rev": "stable"}), canary, false, "another revision"},
		{"namespace rev beats pod rev", pod(map[string]string{"istio.io/rev": "canary"}, nil), ns(map[string]string{"istio.io/rev": "stable"}), canary, false, "namespace label istio.io/rev=stable"},
		{"namespace enabled beats pod rev", pod(map[string]string{"istio.io/rev": "canary"}, nil), ns(enabled), canary, false, "default revision"},
		{"pod rev match in unlabelled namespace", pod(map[string]string{"istio.io/rev": "canary"}, nil), ns(nil), canary, true, "pod label istio.io/rev=canary"},
		{"pod rev mismatch", pod(map[string]string{"istio.io/rev": "stable"}, nil), ns(nil), canary, false, "another revision"},
		{"pod label true in unlabelled namespace", pod(map[string]string{"sidecar.istio.io/inject": "true"}, nil), ns(nil), Config{}, true, "inject=true"},
		{"pod label true, canary revision", pod(map[string]string{"sidecar.istio.io/inject": "true"}, nil), ns(nil), canary, false, "default revision"},
		{"pod label true in disabled namespace", pod(map[string]string{"sidecar.istio.io/inject": "true"}, nil), ns(map[string]string{"istio-injection": "disabled"}), Config{}, false, "istio-injection=disabled"},
		{"pod label false in enabled namespace", pod(map[string]string{"sidecar.istio.io/inject": "false"}, nil), ns(enabled), Config{}, false, "inject=false"},
		{"pod label false in rev namespace", pod(map[string]string{"sidecar.istio.io/inject": "false"}, nil), ns(map[string]string{"istio.io/rev": "canary"}), canary, false, "inject=false"},
		{"deprecated annotation false", pod(nil, map[string]string{"sidecar.istio.io/inject": "false"}), ns(enabled), Config{}, false, "annotation"},
		{"label true beats annotation false", pod(map[string]string{"sidecar.istio.io/inject": "true"}, map[string]string{"sidecar.istio.io/inject": "false"}), ns(enabled), Config{}, true, "istio-injection=enabled"},
		{"host network", hostNet, ns(enabled), Config{}, false, "host network"},
		{"ambient pod", pod(map[string]string{"istio.io/dataplane-mode": "ambient"}, nil), ns(enabled), Config{}, false, "pod is in ambient mode"},
		{"ambient namespace", pod(nil, nil), ns(map[string]string{"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"}), Config{}, false, "namespace is in ambient mode"},
		{"pod opts out of ambient namespace", pod(map[string]string{"istio.io/dataplane-mode": "none"}, nil), ns(map[string]string{"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"}), Config{}, true, "istio-injection=enabled"},
		{"already injected: status", pod(nil, map[string]string{"sidecar.istio.io/status": "{}"}), ns(enabled), Config{}, false, "already injected"},
		{"already injected: container", withProxy, ns(enabled), Config{}, false, "istio-proxy"},
		{"already injected: native", nativeProxy, ns(enabled), Config{}, false, "istio-proxy"},
		{"kube-system", pod(nil, nil), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: enabled}}, Config{}, false, "never injected"},
		{"nil pod", nil, ns(enabled), Config{}, false, "no pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.pod, tc.ns, tc.cfg)
			if d.Inject != tc.inject || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %+v, want inject=%t with reason containing %q", d, tc.inject, tc.reason)
			}
		})
	}
}
