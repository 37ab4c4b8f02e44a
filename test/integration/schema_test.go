package integration

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshd-io/meshd/internal/testutil"
)

// TestSchemaRejectsInvalidObjects: what Istio's CRD schema and CEL rules refuse, the API
// server refuses at once, and the error names the field.
func TestSchemaRejectsInvalidObjects(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name     string
		manifest string
		// every string must appear in the API server's error
		want []string
	}{
		{
			name: "ap-selector-and-targetRefs",
			manifest: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: both}
spec:
  selector: {matchLabels: {app: a}}
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]
`,
			want: []string{"spec", "only one of targetRefs or selector can be set"},
		},
		{
			name: "ap-bad-action",
			manifest: `
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: bad-action}
spec:
  action: PERMIT
  rules: [{}]
`,
			want: []string{"spec.action", "PERMIT"},
		},
		{
			name: "ap-custom-without-provider",
			manifest: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: custom}
spec:
  action: CUSTOM
  rules: [{}]
`,
			want: []string{"spec.provider", "CUSTOM"},
		},
		{
			name: "ap-serviceaccounts-with-principals",
			manifest: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: sa}
spec:
  rules:
  - from:
    - source: {serviceAccounts: [ns/sa], principals: [cluster.local/ns/a/sa/b]}
`,
			want: []string{"spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals"},
		},
		{
			name: "pa-portlevel-without-selector",
			manifest: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ports}
spec:
  mtls: {mode: STRICT}
  portLevelMtls:
    "8080": {mode: DISABLE}
`,
			want: []string{"spec", "portLevelMtls requires selector"},
		},
		{
			name: "pa-bad-mode",
			manifest: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mode}
spec:
  mtls: {mode: MUTUAL}
`,
			want: []string{"spec.mtls.mode", "MUTUAL"},
		},
		{
			name: "pa-bad-port",
			manifest: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: port}
spec:
  selector: {matchLabels: {app: a}}
  portLevelMtls:
    "70000": {mode: DISABLE}
`,
			want: []string{"spec.portLevelMtls", "port must be between 1-65535"},
		},
		{
			name: "selector-wildcard-label",
			manifest: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: wildcard}
spec:
  selector: {matchLabels: {"web*": x}}
  mtls: {mode: STRICT}
`,
			want: []string{"spec.selector.matchLabels", "wildcard not allowed in label key match"},
		},
		{
			name: "mesh-not-default",
			manifest: `
apiVersion: meshd.io/v1alpha1
kind: Mesh
metadata: {name: other}
spec: {}
`,
			want: []string{"the Mesh must be named default"},
		},
		{
			name: "mesh-certmanager-without-issuer",
			manifest: `
apiVersion: meshd.io/v1alpha1
kind: Mesh
metadata: {name: default}
spec:
  ca: {mode: CertManager}
`,
			want: []string{"spec.ca", "certManager"},
		},
	}
	cases = append(cases, networkingSchemaCases...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := testutil.MustDecode(t, tc.manifest)
			if obj.GetKind() != "Mesh" {
				obj.SetNamespace(ns)
			}
			err := env.Client.Create(context.Background(), obj)
			if err == nil {
				_ = env.Client.Delete(context.Background(), obj)
				t.Fatalf("the API server accepted an invalid %s", obj.GetKind())
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}
