// Package rbac checks meshd's generated RBAC for real: the manager runs against a real
// API server as the service account config/default deploys, bound to exactly the
// roles config/default renders (impersonation), does its work, and no request of it
// may be refused.
package rbac

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/testutil/meshenv"
)

// TestManagerRunsWithGeneratedRBAC: meshd's manager, with leader election, webhooks,
// the CA and xDS, runs as config/default's service account with only config/default's
// roles, handles every kind it serves (statuses, injection, root certificate, gateway
// certificates), and is never refused.
func TestManagerRunsWithGeneratedRBAC(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := meshenv.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	}()

	sa := installRBAC(t, env.Client)
	recorder := testutil.NewRequestLog(func(_ *http.Request, resp *http.Response) bool { return resp.StatusCode == http.StatusForbidden })
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:istio-system:" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:istio-system", "system:authenticated"},
	}
	cfg.Wrap(recorder.Wrap)
	// Secrets are listed and watched only as metadata: no replica caches Secret data
	// cluster-wide; a Gateway's certificate is read by name when a proxy asks for it.
	secretLists := testutil.NewRequestLog(func(req *http.Request, _ *http.Response) bool {
		return req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/secrets") &&
			!strings.Contains(req.Header.Get("Accept"), "as=PartialObjectMetadata")
	})
	cfg.Wrap(secretLists.Wrap)
	t.Cleanup(func() {
		if r := recorder.List(); t.Failed() && len(r) > 0 {
			t.Logf("requests refused meanwhile:\n%s", strings.Join(r, "\n"))
		}
	})
	opts := meshenv.TestOptions()
	opts.LeaderElection, opts.LeaderElectionNamespace = true, "istio-system"
	env.ServeWebhooks(&opts)
	if err := env.StartManager(cfg, opts); err != nil {
		t.Fatal(err)
	}
	select {
	case <-env.Manager.Elected():
	case <-ctx.Done():
		t.Fatalf("the manager never became leader; refused: %v", recorder.List())
	}

	ns := exerciseEveryKind(t, ctx, env.Client)
	exerciseSecurePort(t, ctx, env, ns)

	if r := recorder.List(); len(r) > 0 {
		t.Errorf("the API server refused %d request(s) of meshd running with its generated RBAC:\n%s", len(r), strings.Join(r, "\n"))
	}
	if r := secretLists.List(); len(r) > 0 {
		t.Errorf("meshd listed or watched Secrets with their data:\n%s", strings.Join(r, "\n"))
	}
}

// installRBAC creates the ServiceAccount, roles and bindings config/default renders,
// and returns the service account's name.
func installRBAC(t *testing.T, c client.Client) string {
	t.Helper()
	kubectl, err := testutil.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(testutil.RepoRoot(), "config", "default")).Output()
	if err != nil {
		t.Fatalf("kustomize config/default: %v", err)
	}
	objs, err := testutil.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	sa := ""
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			sa = o.GetName()
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		default:
			continue
		}
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if sa == "" {
		t.Fatal("config/default renders no ServiceAccount")
	}
	return sa
}

// exerciseEveryKind creates one object of every kind meshd handles in a namespace of
// its own, and waits until meshd has acted on each: statuses written, the pod
// injected, the root certificate published.
func exerciseEveryKind(t *testing.T, ctx context.Context, c client.Client) string {
	t.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rbac-", Labels: map[string]string{"istio-injection": "enabled"}}}
	if err := c.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	manifests := fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: %[1]s}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: %[1]s}
data: {tls.crt: Y2VydA==, tls.key: a2V5}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: %[1]s}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: %[1]s}
spec: {host: reviews}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: %[1]s}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{from: [{source: {namespaces: [%[1]s]}}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: %[1]s, annotations: {networking.istio.io/service-type: ClusterIP}}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: web-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: %[1]s}
spec:
  parentRefs: [{name: web}]
  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: %[1]s, labels: {app: reviews}}
spec:
  containers: [{name: app, image: reviews}]
`, ns)
	objs, err := testutil.Decode([]byte(manifests))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		// The GatewayClass is meshd's to create; until it exists the Gateway waits.
		testutil.Eventually(t, 30*time.Second, func() error { return c.Create(ctx, o.DeepCopy()) })
	}

	accepted := func(obj client.Object, conds func() []metav1.Condition) func() error {
		return func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
			if cond := meta.FindStatusCondition(conds(), "Accepted"); cond == nil || cond.Status != metav1.ConditionTrue {
				return fmt.Errorf("%T %s: Accepted is %+v", obj, obj.GetName(), cond)
			}
			return nil
		}
	}
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns}}
	testutil.Eventually(t, 30*time.Second, accepted(vs, func() []metav1.Condition { return vs.Status.Conditions }))
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}}
	testutil.Eventually(t, 30*time.Second, accepted(gw, func() []metav1.Condition { return gw.Status.Conditions }))
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns}}
	testutil.Eventually(t, 30*time.Second, accepted(route, func() []metav1.Condition {
		if len(route.Status.Parents) == 0 {
			return nil
		}
		return route.Status.Parents[0].Conditions
	}))
	testutil.Eventually(t, 30*time.Second, func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "istio-ca-root-cert"}, &corev1.ConfigMap{})
	})
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "reviews-v1"}, pod); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(append(pod.Spec.Containers, pod.Spec.InitContainers...), func(c corev1.Container) bool { return c.Name == "istio-proxy" }) {
		t.Error("the pod was not injected")
	}
	return ns
}

// exerciseSecurePort authenticates a gateway proxy by its token (TokenReview) on the
// secure port and reads its Gateway's certificate (a Secret read).
func exerciseSecurePort(t *testing.T, ctx context.Context, env *meshenv.Env, ns string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	// meshd deployed the Gateway's proxy, whose ServiceAccount this is.
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "web-istio", metav1.GetOptions{})
		return err
	})
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "web-istio", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(cm.Data["root-cert.pem"]))
	conn, err := grpc.NewClient(env.SecureXDSAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "meshd-xds.istio-system.svc", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	labels, _ := structpb.NewStruct(map[string]any{"gateway.networking.k8s.io/gateway-name": "web"})
	node := &corev3.Node{Id: fmt.Sprintf("router~10.1.0.9~web-istio-1.%s~%s.svc.cluster.local", ns, ns),
		Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{"LABELS": structpb.NewStructValue(labels)}}}
	proxy, err := adsclient.Dial(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.Status.Token), conn, node)
	if err != nil {
		t.Fatal(err)
	}
	name := "kubernetes://" + ns + "/web-cert"
	if err := proxy.Subscribe(resourcev3.SecretType, []string{name}); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Wait(ctx, func(st adsclient.State) bool { return st.Secrets[name] != nil }); err != nil {
		t.Fatalf("gateway certificate over SDS: %v", err)
	}
}
