package model

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestIndexEndpoints: the index of several slices holds every slice's endpoints per
// service port, two slices of one service together, sorted; a slice of an unknown
// service adds nothing, and pods and nodes give labels and localities.
func TestIndexEndpoints(t *testing.T) {
	svc := ServiceFromKube(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "grpc", Port: 9090}}}}, DefaultClusterDomain)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"version": "v1"}},
		Spec: corev1.PodSpec{ServiceAccountName: "web"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{LabelRegion: "eu", LabelZone: "eu-1"}}}
	in := NewDiscoveryInputs([]*Service{svc}, []*corev1.Pod{pod}, []*corev1.Node{node})
	slice := func(name, service string, addrs ...string) *discoveryv1.EndpointSlice {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop",
			Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}, {Name: ptr.To("grpc"), Port: ptr.To(int32(9090))}}}
		for _, a := range addrs {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, NodeName: ptr.To("n1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}})
		}
		return s
	}
	slices := []*discoveryv1.EndpointSlice{slice("web-b", "web", "10.0.0.3", "10.0.0.1"), slice("other", "nothing", "10.0.0.9"), slice("web-a", "web", "10.0.0.2")}
	got := IndexEndpoints(slices, in)
	want := EndpointIndex{}
	for _, s := range slices {
		want.Merge(EndpointsFromSlice(s, in))
	}
	want.Sort()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("index %+v, want %+v", got, want)
	}
	http := got[EndpointKey{Hostname: svc.Hostname, Port: 80}]
	if len(got) != 2 || len(http) != 3 || http[0].Address != "10.0.0.1" || http[2].Address != "10.0.0.3" || http[0].Port != 8080 {
		t.Fatalf("index %+v: want two ports of web, three endpoints each, sorted", got)
	}
	if e := http[0]; e.Labels["version"] != "v1" || e.ServiceAccount != "web" || e.Locality.Region != "eu" || e.Locality.Zone != "eu-1" {
		t.Fatalf("endpoint %+v: want the pod's labels and service account and the node's locality", e)
	}
}
