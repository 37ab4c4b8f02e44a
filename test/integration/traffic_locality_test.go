package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

// TestTrafficLocalityFailover: with outlier detection on, a client prefers endpoints in
// its own zone, then its region, then the region a failover rule names, as Istio's
// locality failover does; when the local endpoint goes away, traffic fails over to the
// next priority without the client reconnecting.
func TestTrafficLocalityFailover(t *testing.T) {
	f := newMeshFixture(t)
	zones := map[string][2]string{"a": {"r1", "r1-a"}, "b": {"r1", "r1-b"}, "c": {"r2", "r2-a"}, "d": {"r3", "r3-a"}}
	for z, rz := range zones {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-" + z, Labels: map[string]string{
			corev1.LabelTopologyRegion: rz[0], corev1.LabelTopologyZone: rz[1]}}}
		if err := env.Client.Create(context.Background(), node); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), node) })
		f.addBackendOn("reviews-"+z, z, node.Name)
	}
	f.apply(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s}
    loadBalancer:
      localityLbSetting:
        failover: [{from: r1, to: r3}]
`)
	c := f.clientIn("client-local", &grpcxds.Locality{Region: "r1", Zone: "r1-a"})
	for _, step := range []struct{ remove, want string }{
		{"", "reviews-a"},          // same zone
		{"reviews-a", "reviews-b"}, // same region
		{"reviews-b", "reviews-d"}, // the failover region, before the other region
		{"reviews-d", "reviews-c"},
	} {
		if step.remove != "" {
			f.removeBackend(step.remove)
		}
		_, took := waitFor(t, c, nil, func(m map[string]int) bool { return m[step.want] == 20 })
		t.Logf("all calls reach %s after %v", step.want, took)
	}
}
