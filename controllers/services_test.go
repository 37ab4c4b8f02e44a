package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A Service is converted again only when its resourceVersion (or the cluster domain)
// changes; one no longer listed is forgotten.
func TestServiceConversions(t *testing.T) {
	svc := func(uid, rv string, port int32) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s" + uid, Namespace: "ns", UID: types.UID(uid), ResourceVersion: rv},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}}}
	}
	var c serviceConversions
	first := c.convert([]*corev1.Service{svc("a", "1", 80), svc("b", "1", 80)}, "cluster.local")
	again := c.convert([]*corev1.Service{svc("a", "1", 80), svc("b", "2", 8080)}, "cluster.local")
	if again[0] != first[0] {
		t.Error("an unchanged Service was converted again")
	}
	if again[1] == first[1] || again[1].Ports[0].Port != 8080 {
		t.Errorf("a changed Service kept its old conversion: port %d", again[1].Ports[0].Port)
	}
	if other := c.convert([]*corev1.Service{svc("a", "1", 80)}, "example.org"); other[0] == first[0] || other[0].Hostname != "sa.ns.svc.example.org" {
		t.Errorf("another cluster domain kept the old conversion: %s", other[0].Hostname)
	}
	if _, kept := c.byID["b"]; kept {
		t.Error("a Service no longer listed is still held")
	}
	unversioned := []*corev1.Service{svc("c", "", 80)}
	if c.convert(unversioned, "cluster.local")[0] == c.convert(unversioned, "cluster.local")[0] {
		t.Error("a Service without a resourceVersion was taken as unchanged")
	}
}
