package integration

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestStatusResolvedRefsAndConflicts: translation's findings reach the API server: a
// host that matches no service, a subset no DestinationRule defines, a port the Service
// lacks, and two VirtualServices claiming one host (the older wins).
func TestStatusResolvedRefsAndConflicts(t *testing.T) {
	f := newMeshFixture(t)
	f.apply(reviewsDR)
	f.apply(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: first}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
`)
	f.apply(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: second}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
`)
	f.apply(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: unknown-host}
spec:
  hosts: [ratings.example.com]
  gateways: [mesh]
  http: [{route: [{destination: {host: reviews, subset: v9}}]}]
`)
	f.apply(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nowhere}
spec:
  host: details
`)
	vs := schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	dr := schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}

	cases := []struct {
		gvk                                     schema.GroupVersionKind
		name, condType, status, reason, message string
	}{
		{vs, "first", typev1beta1.ConditionAccepted, "True", typev1beta1.ReasonAccepted, ""},
		{vs, "first", typev1beta1.ConditionResolvedRefs, "True", "ResolvedRefs", ""},
		{vs, "second", typev1beta1.ConditionAccepted, "False", "Conflicted", "already routed by the older VirtualService " + f.ns + "/first"},
		{vs, "unknown-host", typev1beta1.ConditionResolvedRefs, "False", "HostNotFound", "host ratings.example.com matches no service"},
		{dr, "nowhere", typev1beta1.ConditionResolvedRefs, "False", "HostNotFound", "details." + f.ns + ".svc.cluster.local matches no service"},
	}
	for _, tc := range cases {
		testutil.Eventually(t, statusTimeout, func() error {
			c := condition(t, tc.gvk, f.ns, tc.name, tc.condType)
			if c == nil || string(c.Status) != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
				return fmt.Errorf("%s %s: %s = %+v, want %s/%s containing %q", tc.gvk.Kind, tc.name, tc.condType, c, tc.status, tc.reason, tc.message)
			}
			return nil
		})
	}

	// A subset and a port that do not exist on a real service.
	f.apply(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: first}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v9}, weight: 50}
    - {destination: {host: reviews, port: {number: 8080}}, weight: 50}
`)
	testutil.Eventually(t, statusTimeout, func() error {
		c := condition(t, vs, f.ns, "first", typev1beta1.ConditionResolvedRefs)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "PortNotFound" ||
			!strings.Contains(c.Message, "has no port 8080") || !strings.Contains(c.Message, "subset v9") {
			return fmt.Errorf("ResolvedRefs = %+v, want False/PortNotFound naming port 8080 and subset v9", c)
		}
		return nil
	})
}

func condition(t *testing.T, gvk schema.GroupVersionKind, ns, name, condType string) *metav1.Condition {
	t.Helper()
	u := get(t, gvk, ns, name)
	var st typev1beta1.ConfigStatus
	raw, _ := u.Object["status"].(map[string]any)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.ObservedGeneration != u.GetGeneration() {
		return nil
	}
	return meta.FindStatusCondition(st.Conditions, condType)
}
