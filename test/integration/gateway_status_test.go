package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestGatewayClassesAccepted: meshd creates Istio's two GatewayClasses and accepts
// them, listing the features it supports.
func TestGatewayClassesAccepted(t *testing.T) {
	for _, name := range []string{"istio", "istio-waypoint"} {
		testutil.Eventually(t, 30*time.Second, func() error {
			gc := &gatewayv1.GatewayClass{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, gc); err != nil {
				return err
			}
			c := meta.FindStatusCondition(gc.Status.Conditions, "Accepted")
			if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != gc.Generation {
				return fmt.Errorf("class %s: Accepted is %+v", name, c)
			}
			if len(gc.Status.SupportedFeatures) == 0 {
				return fmt.Errorf("class %s lists no supported features", name)
			}
			return nil
		})
	}
}

// gatewayOf builds an istio-class Gateway; its Service is ClusterIP unless lb.
func gatewayOf(ns, name string, lb bool, listeners ...gatewayv1.Listener) *gatewayv1.Gateway {
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "istio", Listeners: listeners}}
	if !lb {
		gw.Annotations = map[string]string{"networking.istio.io/service-type": "ClusterIP"}
	}
	return gw
}

func httpRouteTo(ns, name string, parent gatewayv1.ParentReference, hostnames []gatewayv1.Hostname, backends ...gatewayv1.HTTPBackendRef) *gatewayv1.HTTPRoute {
	return &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: gatewayv1.HTTPRouteSpec{
		CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent}},
		Hostnames:       hostnames,
		Rules:           []gatewayv1.HTTPRouteRule{{BackendRefs: backends}},
	}}
}

func backendRef(ns, name string, port int32) gatewayv1.HTTPBackendRef {
	ref := gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{
		Name: gatewayv1.ObjectName(name), Port: ptrTo(gatewayv1.PortNumber(port))}}}
	if ns != "" {
		ref.Namespace = ptrTo(gatewayv1.Namespace(ns))
	}
	return ref
}

// routeParentCondition waits until meshd's entry for the HTTPRoute's parent has the
// condition with the given status and reason, for the route's current generation.
func routeParentCondition(t *testing.T, ns, name, condType string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	routeParentConditionOf(t, "HTTPRoute", ns, name, "istio.io/gateway-controller", condType, status, reason)
}

// routeParentConditionOf is routeParentCondition for any route kind and controller.
func routeParentConditionOf(t *testing.T, kind, ns, name, controller, condType string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gatewayv1.SchemeGroupVersion.WithKind(kind))
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			return err
		}
		var st gatewayv1.RouteStatus
		raw, _, _ := unstructured.NestedMap(u.Object, "status")
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
			return err
		}
		for _, p := range st.Parents {
			if string(p.ControllerName) != controller {
				continue
			}
			c := meta.FindStatusCondition(p.Conditions, condType)
			if c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == u.GetGeneration() {
				return nil
			}
			return fmt.Errorf("%s %s: %s is %+v, want %s/%s", kind, name, condType, c, status, reason)
		}
		return fmt.Errorf("%s %s has no parent status from %s: %+v", kind, name, controller, st.Parents)
	})
}

// gatewayCondition waits for a Gateway condition and returns the Gateway.
func gatewayCondition(t *testing.T, ns, name, condType string, status metav1.ConditionStatus, reason string) *gatewayv1.Gateway {
	t.Helper()
	gw := &gatewayv1.Gateway{}
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, gw); err != nil {
			return err
		}
		c := meta.FindStatusCondition(gw.Status.Conditions, condType)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != gw.Generation {
			return fmt.Errorf("gateway %s: %s is %+v, want %s/%s", name, condType, c, status, reason)
		}
		return nil
	})
	return gw
}

// TestGatewayRouteStatus: the specification's route reasons, each produced by a real
// object set, and a cross-namespace backend refused until a ReferenceGrant exists.
func TestGatewayRouteStatus(t *testing.T) {
	ctx := context.Background()
	ns, other := newNamespace(t), newNamespace(t)
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: other}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}},
	} {
		if err := env.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	gw := gatewayOf(ns, "edge", false, gatewayv1.Listener{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType,
		Hostname: ptrTo(gatewayv1.Hostname("*.example.com"))})
	if err := env.Client.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	gatewayCondition(t, ns, "edge", "Accepted", metav1.ConditionTrue, "Accepted")

	parent := gatewayv1.ParentReference{Name: "edge", Namespace: ptrTo(gatewayv1.Namespace(ns))}
	routes := []*gatewayv1.HTTPRoute{
		httpRouteTo(ns, "good", parent, []gatewayv1.Hostname{"www.example.com"}, backendRef("", "app", 8080)),
		httpRouteTo(other, "stranger", parent, nil, backendRef("", "shared", 8080)),
		httpRouteTo(ns, "wrong-host", parent, []gatewayv1.Hostname{"www.example.org"}, backendRef("", "app", 8080)),
		httpRouteTo(ns, "no-section", gatewayv1.ParentReference{Name: "edge", SectionName: ptrTo(gatewayv1.SectionName("grpc"))}, nil, backendRef("", "app", 8080)),
		httpRouteTo(ns, "ghost", parent, nil, backendRef("", "ghost", 8080)),
		httpRouteTo(ns, "cross", parent, nil, backendRef(other, "shared", 8080)),
	}
	for _, r := range routes {
		if err := env.Client.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	routeParentCondition(t, ns, "good", "Accepted", metav1.ConditionTrue, "Accepted")
	routeParentCondition(t, ns, "good", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")
	routeParentCondition(t, other, "stranger", "Accepted", metav1.ConditionFalse, "NotAllowedByListeners")
	routeParentCondition(t, ns, "wrong-host", "Accepted", metav1.ConditionFalse, "NoMatchingListenerHostname")
	routeParentCondition(t, ns, "no-section", "Accepted", metav1.ConditionFalse, "NoMatchingParent")
	routeParentCondition(t, ns, "ghost", "ResolvedRefs", metav1.ConditionFalse, "BackendNotFound")
	routeParentCondition(t, ns, "cross", "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted")

	grant := &gatewayv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Name: "allow-" + ns, Namespace: other}, Spec: gatewayv1.ReferenceGrantSpec{
		From: []gatewayv1.ReferenceGrantFrom{{Group: gatewayv1.GroupName, Kind: "HTTPRoute", Namespace: gatewayv1.Namespace(ns)}},
		To:   []gatewayv1.ReferenceGrantTo{{Group: "", Kind: "Service"}},
	}}
	if err := env.Client.Create(ctx, grant); err != nil {
		t.Fatal(err)
	}
	routeParentCondition(t, ns, "cross", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")

	// The listener counts the routes attached to it: good, ghost and cross.
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
			return err
		}
		if len(gw.Status.Listeners) != 1 || gw.Status.Listeners[0].AttachedRoutes != 3 {
			return fmt.Errorf("listeners %+v, want http with 3 attached routes", gw.Status.Listeners)
		}
		return nil
	})

	// Editing a route moves its status to the new generation.
	good := &gatewayv1.HTTPRoute{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "good"}, good); err != nil {
		t.Fatal(err)
	}
	good.Spec.Hostnames = []gatewayv1.Hostname{"shop.example.net"}
	if err := env.Client.Update(ctx, good); err != nil {
		t.Fatal(err)
	}
	routeParentCondition(t, ns, "good", "Accepted", metav1.ConditionFalse, "NoMatchingListenerHostname")
}

func ptrTo[T any](v T) *T { return &v }

// TestAuthorizationPolicyTargetsGateway: a policy bound to a Gateway by targetRefs says
// so in its status, and a policy naming a Gateway that does not exist says that.
func TestAuthorizationPolicyTargetsGateway(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	if err := env.Client.Create(ctx, gatewayOf(ns, "web", false, gatewayv1.Listener{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType})); err != nil {
		t.Fatal(err)
	}
	f := &meshFixture{t: t, ns: ns}
	target := func(name, gateway string) string {
		return fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: %s}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: %s}]
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
`, name, gateway)
	}
	f.apply(target("bound", "web"))
	f.apply(target("dangling", "nope"))
	gvk := securityv1.GroupVersion.WithKind("AuthorizationPolicy")
	for name, reason := range map[string]string{"bound": "WorkloadsSelected", "dangling": "TargetNotFound"} {
		testutil.Eventually(t, 30*time.Second, func() error {
			c := condition(t, gvk, ns, name, "WorkloadsSelected")
			if c == nil || c.Reason != reason {
				return fmt.Errorf("policy %s: WorkloadsSelected is %+v, want reason %s", name, c, reason)
			}
			return nil
		})
	}
}

// TestGatewayDeployedAndProgrammed: a Gateway gets its Deployment, Service and
// ServiceAccount, and is Programmed once the Service has an address: at once for a
// ClusterIP Service; for a LoadBalancer only when the load balancer reports one
// (envtest has none, so the test writes it). Deleting the Gateway removes them.
func TestGatewayDeployedAndProgrammed(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	listener := gatewayv1.Listener{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}
	for _, gw := range []*gatewayv1.Gateway{gatewayOf(ns, "internal", false, listener), gatewayOf(ns, "public", true, listener)} {
		if err := env.Client.Create(ctx, gw); err != nil {
			t.Fatal(err)
		}
	}
	deployed := func(name string) error {
		for _, o := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}} {
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
				return err
			}
		}
		return nil
	}
	testutil.Eventually(t, 30*time.Second, func() error { return deployed("internal-istio") })
	testutil.Eventually(t, 30*time.Second, func() error { return deployed("public-istio") })

	internal := gatewayCondition(t, ns, "internal", "Programmed", metav1.ConditionTrue, "Programmed")
	svc := &corev1.Service{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-istio"}, svc); err != nil {
		t.Fatal(err)
	}
	if len(internal.Status.Addresses) != 1 || internal.Status.Addresses[0].Value != svc.Spec.ClusterIP {
		t.Errorf("internal Gateway addresses %+v, want its Service's cluster IP %s", internal.Status.Addresses, svc.Spec.ClusterIP)
	}

	gatewayCondition(t, ns, "public", "Programmed", metav1.ConditionFalse, "AddressNotAssigned")
	lb := &corev1.Service{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "public-istio"}, lb); err != nil {
		t.Fatal(err)
	}
	if lb.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("public Gateway's Service is %s, want LoadBalancer", lb.Spec.Type)
	}
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	if err := env.Client.Status().Update(ctx, lb); err != nil {
		t.Fatal(err)
	}
	public := gatewayCondition(t, ns, "public", "Programmed", metav1.ConditionTrue, "Programmed")
	if len(public.Status.Addresses) != 1 || public.Status.Addresses[0].Value != "203.0.113.10" {
		t.Errorf("public Gateway addresses %+v, want the load balancer's 203.0.113.10", public.Status.Addresses)
	}

	if err := env.Client.Delete(ctx, public); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := deployed("public-istio"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("after the Gateway's deletion its proxy objects remain (%v)", err)
		}
		return nil
	})
}
