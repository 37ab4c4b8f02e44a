package integration

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshd-io/meshd/internal/testutil"
)

// TestValidationWebhookRefusesInvalidConfig: the API server calls meshd's validation
// webhook, which refuses config the schema lets through but Istio's validation does
// not, naming every field, for every served version; nothing is stored.
func TestValidationWebhookRefusesInvalidConfig(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	for _, tc := range semanticErrorCases() {
		for _, version := range servedVersions(tc.group) {
			t.Run(tc.name+"/"+version, func(t *testing.T) {
				gvk := schema.GroupVersionKind{Group: tc.group, Version: version, Kind: tc.kind}
				obj := newObject(t, gvk, ns, tc.name, tc.spec)
				err := env.Client.Create(ctx, obj)
				if err == nil {
					t.Fatal("the API server stored an invalid object")
				}
				msg := err.Error()
				if !strings.Contains(msg, `admission webhook "validation.istio.io" denied the request`) {
					t.Errorf("refused, but not by the validation webhook: %v", err)
				}
				for _, f := range tc.wantFields {
					if !strings.Contains(msg, f) {
						t.Errorf("refusal %q does not mention %q", msg, f)
					}
				}
			})
		}
	}
}

// TestValidationWebhookWarnsAndStores: valid config is stored; deprecated fields pass
// with a warning kubectl prints, naming the field.
func TestValidationWebhookWarnsAndStores(t *testing.T) {
	kubectl, err := testutil.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	manifest := `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: mirrored, namespace: ` + ns + `}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    mirror: {host: reviews-shadow}
    mirrorPercent: 10
`
	out := run(t, kubectl, []byte(manifest), "--kubeconfig", writeKubeconfig(t), "apply", "--server-side", "-f", "-")
	if !strings.Contains(out, "serverside-applied") {
		t.Errorf("valid VirtualService not applied: %s", out)
	}
	if !strings.Contains(out, "Warning:") || !strings.Contains(out, "spec.http[0].mirrorPercent") {
		t.Errorf("no deprecation warning naming spec.http[0].mirrorPercent in kubectl's output:\n%s", out)
	}
}

func servedVersions(group string) []string {
	if group == "security.istio.io" {
		return []string{"v1", "v1beta1"}
	}
	return []string{"v1", "v1beta1", "v1alpha3"}
}

// withoutValidationWebhook runs f with meshd's validating webhook configurations removed
// from the API server (as when the webhook is not installed), then puts them back.
func withoutValidationWebhook(t *testing.T, f func()) {
	t.Helper()
	ctx := context.Background()
	var list admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		if err := env.Client.Delete(ctx, &list.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range list.Items {
			c := c.DeepCopy()
			c.ResourceVersion, c.UID = "", ""
			if err := env.Client.Create(ctx, c); err != nil {
				t.Errorf("restore webhook configuration %s: %v", c.Name, err)
			}
		}
	}()
	f()
}
