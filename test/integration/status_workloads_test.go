package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestStatusWorkloadsSelected: an AuthorizationPolicy or PeerAuthentication says whether
// it selects any running pod, and follows pods as they come.
func TestStatusWorkloadsSelected(t *testing.T) {
	ns := newNamespace(t)
	f := &meshFixture{t: t, ns: ns}
	f.apply(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings-viewers}
spec:
  selector: {matchLabels: {app: ratings}}
  rules: [{from: [{source: {namespaces: [shop]}}]}]
`)
	f.apply(peerAuthentication("ratings-strict", "ratings", "STRICT"))
	expect := func(status metav1.ConditionStatus, msg string) {
		t.Helper()
		for _, kind := range []string{"AuthorizationPolicy", "PeerAuthentication"} {
			name := map[string]string{"AuthorizationPolicy": "ratings-viewers", "PeerAuthentication": "ratings-strict"}[kind]
			gvk := schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: kind}
			testutil.Eventually(t, statusTimeout, func() error {
				c := condition(t, gvk, ns, name, typev1beta1.ConditionWorkloadsSelected)
				if c == nil || c.Status != status || !strings.Contains(c.Message, msg) {
					return fmt.Errorf("%s %s: WorkloadsSelected = %+v, want %s containing %q", kind, name, c, status, msg)
				}
				return nil
			})
		}
	}
	expect(metav1.ConditionFalse, "no running pod in namespace "+ns+" has the labels app=ratings")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ratings-1", Namespace: ns, Labels: map[string]string{"app": "ratings"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ratings"}}}}
	if err := env.Client.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	expect(metav1.ConditionTrue, "selects 1 pod in namespace "+ns)

	// A second PeerAuthentication for the same workloads is shadowed by the older one
	// (on equal creation seconds, by name: this one sorts after).
	f.apply(peerAuthentication("ratings-z-permissive", "ratings", "PERMISSIVE"))
	gvk := schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
	testutil.Eventually(t, statusTimeout, func() error {
		c := condition(t, gvk, ns, "ratings-z-permissive", typev1beta1.ConditionWorkloadsSelected)
		if c == nil || c.Reason != "Conflicted" || !strings.Contains(c.Message, ns+"/ratings-strict") {
			return fmt.Errorf("WorkloadsSelected = %+v, want Conflicted naming %s/ratings-strict", c, ns)
		}
		return nil
	})
}
