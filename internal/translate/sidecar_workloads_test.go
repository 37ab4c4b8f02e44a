package translate

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// TestSidecarsConditions: each Sidecar counts the running pods it is the one to apply
// to: the oldest matching selector wins a pod, the namespace's Sidecar takes the
// rest, the root namespace's the namespaces without one; a newer selector matching
// only pods an older one takes says so.
func TestSidecarsConditions(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	sidecar := func(ns, name string, age int, labels map[string]string) *networkingv1.Sidecar {
		sc := &networkingv1.Sidecar{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 2,
			CreationTimestamp: metav1.NewTime(base.Add(time.Duration(age) * time.Second))}}
		if labels != nil {
			sc.Spec.WorkloadSelector = &networkingv1.WorkloadSelector{Labels: labels}
		}
		return sc
	}
	pod := func(ns, name, app string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
			Status: corev1.PodStatus{Phase: phase}}
	}
	got := SidecarsConditions([]*networkingv1.Sidecar{
		sidecar("a", "web2", 3, map[string]string{"app": "web"}),
		sidecar("a", "web", 1, map[string]string{"app": "web"}),
		sidecar("a", "default", 2, nil),
		sidecar("a", "lonely", 4, map[string]string{"app": "nothing"}),
		sidecar("istio-system", "default", 0, nil),
	}, "istio-system", []*corev1.Pod{
		pod("a", "web-1", "web", corev1.PodRunning),
		pod("a", "api-1", "api", corev1.PodRunning),
		pod("a", "api-2", "api", corev1.PodSucceeded),
		pod("b", "x-1", "x", corev1.PodPending),
	})
	for key, want := range map[string]struct{ status, reason, message string }{
		"a/web":                {"True", ReasonWorkloadsSelected, "applies to 1 pod"},
		"a/web2":               {"False", ReasonConflicted, "applies to no running pod; its selector also matches pods an older Sidecar applies to (1 to a/web)"},
		"a/default":            {"True", ReasonWorkloadsSelected, "applies to 1 pod"},
		"a/lonely":             {"False", ReasonNoWorkloads, "applies to no running pod"},
		"istio-system/default": {"True", ReasonWorkloadsSelected, "applies to 1 pod"},
	} {
		c, ok := got[key]
		switch {
		case !ok:
			t.Errorf("%s: no condition", key)
		case string(c.Status) != want.status || c.Reason != want.reason || c.Message != want.message || c.ObservedGeneration != 2:
			t.Errorf("%s: %s/%s %q (generation %d), want %s/%s %q", key, c.Status, c.Reason, c.Message, c.ObservedGeneration, want.status, want.reason, want.message)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d conditions, want one per Sidecar: %v", len(got), got)
	}
}
