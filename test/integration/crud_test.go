package integration

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/internal/testutil"
)

// kindCase is one Istio kind with a spec taken from Istio's documentation and the
// versions the CRD must serve.
type kindCase struct {
	group, kind string
	versions    []string
	spec        string
	// update changes the spec; the result must read back.
	update func(spec map[string]any)
}

var kindCases = []kindCase{
	{
		group: "networking.istio.io", kind: "VirtualService",
		versions: []string{"v1", "v1beta1", "v1alpha3"},
		spec: `
hosts: [reviews.prod.svc.cluster.local]
http:
- name: reviews-v2-routes
  match:
  - uri: {prefix: /wpcatalog}
  - uri: {prefix: /consumercatalog}
    headers:
      end-user: {exact: jason}
    ignoreUriCase: true
  rewrite: {uri: /newcatalog}
  route:
  - destination: {host: reviews.prod.svc.cluster.local, subset: v2}
    weight: 75
  - destination: {host: reviews.prod.svc.cluster.local, subset: v1, port: {number: 9080}}
    weight: 25
    headers:
      request:
        set: {x-version: v1}
  retries: {attempts: 3, perTryTimeout: 2s, retryOn: "connect-failure,refused-stream,503"}
  timeout: 10s
  fault:
    abort:
      percentage: {value: 0.1}
      httpStatus: 400
  mirror: {host: reviews-shadow}
  mirrorPercentage: {value: 50.0}
  corsPolicy:
    allowOrigins:
    - exact: https://example.com
    allowMethods: [POST, GET]
    allowCredentials: false
    allowHeaders: [X-Foo-Bar]
    maxAge: 24h
- name: reviews-v1-route
  route:
  - destination: {host: reviews.prod.svc.cluster.local, subset: v1}
tcp:
- match:
  - port: 27017
  route:
  - destination: {host: mongo.backup.svc.cluster.local, port: {number: 5555}}
`,
		update: func(spec map[string]any) {
			route := spec["http"].([]any)[0].(map[string]any)["route"].([]any)
			route[0].(map[string]any)["weight"] = int64(50)
			route[1].(map[string]any)["weight"] = int64(50)
		},
	},
	{
		group: "networking.istio.io", kind: "DestinationRule",
		versions: []string{"v1", "v1beta1", "v1alpha3"},
		spec: `
host: ratings.prod.svc.cluster.local
trafficPolicy:
  loadBalancer:
    consistentHash:
      httpHeaderName: x-user
      ringHash: {minimumRingSize: 1024}
  connectionPool:
    tcp: {maxConnections: 100, connectTimeout: 30ms, tcpKeepalive: {time: 7200s, interval: 75s}}
    http: {http2MaxRequests: 1000, maxRequestsPerConnection: 10}
  outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m}
  tls: {mode: ISTIO_MUTUAL}
  portLevelSettings:
  - port: {number: 80}
    loadBalancer: {simple: LEAST_REQUEST}
  - port: {number: 9080}
    loadBalancer: {simple: ROUND_ROBIN}
subsets:
- name: testversion
  labels: {version: v3}
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
`,
		update: func(spec map[string]any) {
			spec["subsets"] = append(spec["subsets"].([]any), map[string]any{"name": "v4", "labels": map[string]any{"version": "v4"}})
		},
	},
	{
		group: "security.istio.io", kind: "AuthorizationPolicy",
		versions: []string{"v1", "v1beta1"},
		spec: `
selector:
  matchLabels: {app: httpbin, version: v1}
action: ALLOW
rules:
- from:
  - source: {principals: [cluster.local/ns/default/sa/sleep]}
  - source: {namespaces: [test]}
  to:
  - operation: {methods: [GET], paths: [/info*]}
  - operation: {methods: [POST], paths: [/data]}
  when:
  - key: request.auth.claims[iss]
    values: [https://accounts.google.com]
`,
		update: func(spec map[string]any) { spec["action"] = "AUDIT" },
	},
	{
		group: "security.istio.io", kind: "PeerAuthentication",
		versions: []string{"v1", "v1beta1"},
		spec: `
selector:
  matchLabels: {app: finance}
mtls: {mode: STRICT}
portLevelMtls:
  "8080": {mode: DISABLE}
`,
		update: func(spec map[string]any) { spec["mtls"].(map[string]any)["mode"] = "PERMISSIVE" },
	},
}

// TestCRUDEveryServedVersion creates, reads, updates and deletes each kind in each
// version Istio serves, and checks nothing the user wrote is pruned.
func TestCRUDEveryServedVersion(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	for _, kc := range kindCases {
		for _, version := range kc.versions {
			t.Run(kc.kind+"/"+version, func(t *testing.T) {
				gvk := schema.GroupVersionKind{Group: kc.group, Version: version, Kind: kc.kind}
				obj := newObject(t, gvk, ns, fmt.Sprintf("crud-%s", version), kc.spec)
				want := obj.DeepCopy().Object["spec"]
				if err := env.Client.Create(ctx, obj); err != nil {
					t.Fatalf("create: %v", err)
				}
				got := get(t, gvk, ns, obj.GetName())
				assertSpec(t, want, got.Object["spec"])

				// meshd writes status meanwhile, which moves resourceVersion on.
				err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					cur := get(t, gvk, ns, obj.GetName())
					kc.update(cur.Object["spec"].(map[string]any))
					want = cur.DeepCopy().Object["spec"]
					return env.Client.Update(ctx, cur)
				})
				if err != nil {
					t.Fatalf("update: %v", err)
				}
				got = get(t, gvk, ns, obj.GetName())
				assertSpec(t, want, got.Object["spec"])
				if got.GetGeneration() != 2 {
					t.Errorf("generation after update = %d, want 2", got.GetGeneration())
				}

				if err := env.Client.Delete(ctx, got); err != nil {
					t.Fatalf("delete: %v", err)
				}
				err = env.Client.Get(ctx, client.ObjectKeyFromObject(got), got)
				if !apierrors.IsNotFound(err) {
					t.Fatalf("get after delete: %v, want NotFound", err)
				}
			})
		}
	}
}

// TestOlderVersionsReadBackAsV1 writes each kind in its oldest served version and reads
// it as v1: the same object, the same content.
func TestOlderVersionsReadBackAsV1(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	for _, kc := range kindCases {
		old := kc.versions[len(kc.versions)-1]
		t.Run(kc.kind+"/"+old, func(t *testing.T) {
			gvk := schema.GroupVersionKind{Group: kc.group, Version: old, Kind: kc.kind}
			obj := newObject(t, gvk, ns, "old-"+old, kc.spec)
			want := obj.DeepCopy().Object["spec"]
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatalf("create as %s: %v", old, err)
			}
			v1 := get(t, schema.GroupVersionKind{Group: kc.group, Version: "v1", Kind: kc.kind}, ns, obj.GetName())
			if v1.GetAPIVersion() != kc.group+"/v1" {
				t.Errorf("apiVersion = %s, want %s/v1", v1.GetAPIVersion(), kc.group)
			}
			if v1.GetUID() != obj.GetUID() {
				t.Errorf("read back a different object: uid %s, want %s", v1.GetUID(), obj.GetUID())
			}
			assertSpec(t, want, v1.Object["spec"])
		})
	}
}

func newObject(t *testing.T, gvk schema.GroupVersionKind, ns, name, spec string) *unstructured.Unstructured {
	t.Helper()
	s := testutil.MustDecode(t, spec)
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": s.Object}}
	obj.SetGroupVersionKind(gvk)
	obj.SetNamespace(ns)
	obj.SetName(name)
	return obj
}

func get(t *testing.T, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatalf("get %s %s/%s: %v", gvk, ns, name, err)
	}
	return u
}

// assertSpec compares specs after a JSON round trip on both sides, so that int64 and
// float64 forms of one number compare equal.
func assertSpec(t *testing.T, want, got any) {
	t.Helper()
	w, g := normalize(t, want), normalize(t, got)
	if !equality.Semantic.DeepEqual(w, g) {
		t.Errorf("spec changed on the way through the API server:\nwant %v\ngot  %v", w, g)
	}
}
