package integration

import (
	"context"
	"fmt"
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

// addServiceFor creates a Service whose endpoints are the given running backends, as
// Gateway API routes split traffic between Services rather than subsets.
func (f *meshFixture) addServiceFor(name string, backends ...string) {
	f.t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: servicePort}}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		f.t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-slice", Namespace: f.ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, n := range backends {
		b := f.backends[n]
		slice.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("grpc"), Port: ptr.To(int32(b.Port()))}}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{b.Host()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: n, Namespace: f.ns},
		})
	}
	if err := env.Client.Create(ctx, slice); err != nil {
		f.t.Fatal(err)
	}
}

// TestTrafficGAMMAGRPCRoute: a GRPCRoute whose parent is the reviews Service routes a
// proxyless grpc-go client's calls to that Service (GAMMA): a header match to one
// backend Service, the rest split by weight, and a method match; a weight change
// reaches the connected client.
func TestTrafficGAMMAGRPCRoute(t *testing.T) {
	f := newMeshFixture(t, "v1", "v2", "v3")
	for _, v := range []string{"v1", "v2", "v3"} {
		f.addServiceFor("reviews-"+v, "reviews-"+v)
	}
	route := func(w1, w3 int) string {
		return fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: reviews}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: %d}]
  rules:
  - matches: [{headers: [{name: end-user, value: jason}]}]
    backendRefs: [{name: reviews-v2, port: %d}]
  - matches: [{method: {service: grpc.testing.TestService, method: EmptyCall}}]
    backendRefs: [{name: reviews-v3, port: %d}]
  - backendRefs:
    - {name: reviews-v1, port: %d, weight: %d}
    - {name: reviews-v3, port: %d, weight: %d}
`, servicePort, servicePort, servicePort, servicePort, w1, servicePort, w3)
	}
	f.apply(route(80, 20))
	c := f.client("client-gamma")

	waitFor(t, c, map[string]string{"end-user": "jason"}, func(m map[string]int) bool { return m["reviews-v2"] == 20 })
	waitFor(t, c, nil, func(m map[string]int) bool { return m["reviews-v1"] > 0 && m["reviews-v2"] == 0 })
	counts := c.Spread(context.Background(), 1000, nil)
	if got := grpcxds.Fraction(counts, "reviews-v1"); math.Abs(got-0.8) > 0.06 {
		t.Errorf("reviews-v1 got %.3f of 1000 calls, want 0.80±0.06 (%v)", got, counts)
	}
	if counts["reviews-v2"] != 0 {
		t.Errorf("reviews-v2 answered %d calls without the header", counts["reviews-v2"])
	}
	for range 20 {
		if got, _, err := c.EmptyCall(context.Background(), nil); err != nil || got != "reviews-v3" {
			t.Fatalf("EmptyCall went to %q (%v), want reviews-v3 by the method match", got, err)
		}
	}

	f.apply(route(0, 100))
	waitFor(t, c, nil, func(m map[string]int) bool { return m["reviews-v3"] == 20 })
	routeParentConditionOf(t, "GRPCRoute", f.ns, "reviews", "istio.io/mesh-controller", "Accepted", metav1.ConditionTrue, "Accepted")
}
