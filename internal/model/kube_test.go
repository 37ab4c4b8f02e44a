package model

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTrimPodKeepsWhatDiscoveryReads: the informer transform drops the spec and status
// discovery never reads and keeps labels, service account and node.
func TestTrimPodKeepsWhatDiscoveryReads(t *testing.T) {
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "a"},
			Annotations: map[string]string{"big": "annotation"}},
		Spec: corev1.PodSpec{ServiceAccountName: "sa", NodeName: "n1",
			Containers: []corev1.Container{{Name: "app", Image: "img", Env: []corev1.EnvVar{{Name: "X", Value: "y"}}}}},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", ContainerStatuses: []corev1.ContainerStatus{{Name: "app"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue, Reason: "r"}}},
	}
	got, err := TrimPod(in)
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*corev1.Pod)
	if p.Labels["app"] != "a" || p.Spec.ServiceAccountName != "sa" || p.Spec.NodeName != "n1" || p.Status.PodIP != "10.0.0.1" {
		t.Errorf("lost a field discovery reads: %+v", p)
	}
	if len(p.Status.Conditions) != 1 || p.Status.Conditions[0] != (corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}) {
		t.Errorf("want only the Ready condition's status, got %+v", p.Status.Conditions)
	}
	if len(p.Spec.Containers) != 0 || len(p.Annotations) != 0 || len(p.Status.ContainerStatuses) != 0 {
		t.Errorf("kept fields discovery never reads: %+v", p)
	}
	if other, _ := TrimPod("tombstone"); other != "tombstone" {
		t.Errorf("non-pods must pass through, got %v", other)
	}
}
