package translate

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

func TestWorkloadsCondition(t *testing.T) {
	pod := func(ns, app string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: map[string]string{"app": app}}, Status: corev1.PodStatus{Phase: phase}}
	}
	pods := []*corev1.Pod{
		pod("shop", "ratings", corev1.PodRunning), pod("shop", "ratings", corev1.PodRunning),
		pod("shop", "reviews", corev1.PodSucceeded), pod("other", "ratings", corev1.PodRunning),
	}
	for _, tc := range []struct {
		name, ns string
		sel      map[string]string
		status   metav1.ConditionStatus
		msg      string
	}{
		{"selector in namespace", "shop", map[string]string{"app": "ratings"}, metav1.ConditionTrue, "selects 2 pods in namespace shop"},
		{"finished pods do not count", "shop", map[string]string{"app": "reviews"}, metav1.ConditionFalse, "no running pod in namespace shop has the labels app=reviews"},
		{"whole namespace", "other", nil, metav1.ConditionTrue, "selects 1 pod in namespace other"},
		{"root namespace is mesh-wide", "istio-system", map[string]string{"app": "ratings"}, metav1.ConditionTrue, "selects 3 pods in the mesh"},
		{"empty namespace", "empty", nil, metav1.ConditionFalse, "no running pod in namespace empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := WorkloadsCondition(3, tc.ns, tc.sel, "istio-system", pods)
			if c.Status != tc.status || !strings.Contains(c.Message, tc.msg) || c.ObservedGeneration != 3 {
				t.Errorf("got %s %q (generation %d), want %s containing %q", c.Status, c.Message, c.ObservedGeneration, tc.status, tc.msg)
			}
		})
	}
}

func TestTargetsCondition(t *testing.T) {
	gateways := map[string]bool{"edge/web": true}
	classes := map[string]bool{"istio": true}
	services := map[string]string{"shop/reviews": "", "shop/ratings": "shop/waypoint"}
	ref := func(kind, name string) typev1beta1.PolicyTargetReference {
		return typev1beta1.PolicyTargetReference{Kind: kind, Name: name}
	}
	for _, tc := range []struct {
		name, ns   string
		refs       []typev1beta1.PolicyTargetReference
		status     metav1.ConditionStatus
		reason     string
		msgContain string
	}{
		{"gateway", "edge", []typev1beta1.PolicyTargetReference{ref("Gateway", "web")}, metav1.ConditionTrue, ReasonWorkloadsSelected, "Gateway edge/web"},
		{"missing gateway", "edge", []typev1beta1.PolicyTargetReference{ref("Gateway", "nope")}, metav1.ConditionFalse, ReasonTargetNotFound, "edge/nope"},
		{"class from root", "istio-system", []typev1beta1.PolicyTargetReference{ref("GatewayClass", "istio")}, metav1.ConditionTrue, ReasonWorkloadsSelected, "class istio"},
		{"class outside root", "edge", []typev1beta1.PolicyTargetReference{ref("GatewayClass", "istio")}, metav1.ConditionFalse, ReasonTargetNotFound, "root namespace"},
		{"service needs a waypoint", "shop", []typev1beta1.PolicyTargetReference{ref("Service", "reviews")}, metav1.ConditionFalse, ReasonUnsupported, "use no waypoint"},
		{"service at its waypoint", "shop", []typev1beta1.PolicyTargetReference{ref("Service", "ratings")}, metav1.ConditionTrue, ReasonWorkloadsSelected, "Service shop/ratings at waypoint shop/waypoint"},
		{"one of two services without a waypoint", "shop", []typev1beta1.PolicyTargetReference{ref("Service", "ratings"), ref("Service", "reviews")}, metav1.ConditionTrue, ReasonWorkloadsSelected, "not enforced: [Service shop/reviews]"},
		{"gateway and service", "edge", []typev1beta1.PolicyTargetReference{ref("Gateway", "web"), ref("Service", "x")}, metav1.ConditionFalse, ReasonTargetNotFound, "Service edge/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := TargetsCondition(3, tc.ns, "istio-system", tc.refs, gateways, classes, services)
			if c.Status != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.msgContain) || c.ObservedGeneration != 3 {
				t.Errorf("got %s/%s %q, want %s/%s containing %q", c.Status, c.Reason, c.Message, tc.status, tc.reason, tc.msgContain)
			}
		})
	}
}
