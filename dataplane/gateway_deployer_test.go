package dataplane

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
)

func TestGatewayDeployer(t *testing.T) {
	var deployer *GatewayDeployer
	c := startManager(t, func(mgr ctrl.Manager) error {
		deployer = &GatewayDeployer{Client: mgr.GetClient()}
		return deployer.SetupWithManager(mgr)
	})
	ctx := context.Background()
	ns := newNamespace(t, c)

	gw := newGateway(ns, "web", "istio")
	if err := c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: ns, Name: "web-istio"}

	// Deployed, each object controlled by the Gateway.
	eventually(t, func() error {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}} {
			if err := c.Get(ctx, key, obj); err != nil {
				return err
			}
			if err := ownedBy(obj, gw); err != nil {
				return err
			}
		}
		return nil
	})
	svc := &corev1.Service{}
	if err := c.Get(ctx, key, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Port != 80 {
		t.Errorf("Service %v %v, want a LoadBalancer with the status port and 80", svc.Spec.Type, svc.Spec.Ports)
	}

	// The image edited by hand: put back; a label someone else added stays.
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, key, dep); err != nil {
		t.Fatal(err)
	}
	dep.Spec.Template.Spec.Containers[0].Image = "example.com/tampered:1"
	dep.Labels["team"] = "storefront"
	if err := c.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	eventually(t, proxyImage(c, key, meshv1alpha1.DefaultProxyImage, func(got *appsv1.Deployment) error {
		if got.Labels["team"] != "storefront" {
			return fmt.Errorf("labels %v lost the team label", got.Labels)
		}
		return nil
	}))

	// The Service deleted: created again.
	recreated(t, c, svc)
	if err := c.Get(ctx, key, svc); err != nil {
		t.Fatal(err)
	}
	if err := ownedBy(svc, gw); err != nil {
		t.Error(err)
	}

	// The Mesh's proxy image reaches the Deployment.
	setMesh(t, c, meshv1alpha1.MeshSpec{Proxy: meshv1alpha1.MeshProxy{Image: "example.com/istio/proxyv2:next"}})
	eventually(t, proxyImage(c, key, "example.com/istio/proxyv2:next", nil))

	// A Gateway of another class: nothing deployed.
	other := newGateway(ns, "plain", "other")
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := deployer.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(other)}); err != nil {
		t.Fatal(err)
	}
	assertNothingFor(t, c, ns, "plain")

	// The first Gateway moved to another class: its proxy is removed.
	if err := c.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
		t.Fatal(err)
	}
	gw.Spec.GatewayClassName = "other"
	if err := c.Update(ctx, gw); err != nil {
		t.Fatal(err)
	}
	gone(t, c, key, &appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{})
}

// proxyImage checks the Deployment at key runs image, and passes check if set.
func proxyImage(c client.Client, key client.ObjectKey, image string, check func(*appsv1.Deployment) error) func() error {
	return func() error {
		got := &appsv1.Deployment{}
		if err := c.Get(context.Background(), key, got); err != nil {
			return err
		}
		if img := got.Spec.Template.Spec.Containers[0].Image; img != image {
			return fmt.Errorf("image %s, want %s", img, image)
		}
		if check != nil {
			return check(got)
		}
		return nil
	}
}

func newGateway(ns, name, class string) *gatewayv1.Gateway {
	return &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: gatewayv1.ObjectName(class),
			Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
		},
	}
}

// ownedBy checks obj's controlling owner is gw, blocking its deletion until obj is gone.
func ownedBy(obj client.Object, gw *gatewayv1.Gateway) error {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Gateway" || ref.APIVersion != gatewayv1.GroupVersion.String() ||
		ref.Name != gw.Name || ref.UID != gw.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		return fmt.Errorf("%T %s: owner references %v, want the Gateway %s (%s) as controller", obj, obj.GetName(), obj.GetOwnerReferences(), gw.Name, gw.UID)
	}
	return nil
}

// assertNothingFor checks no Deployment, Service or ServiceAccount carries the
// Gateway's name label.
func assertNothingFor(t *testing.T, c client.Client, ns, gateway string) {
	t.Helper()
	sel := []client.ListOption{client.InNamespace(ns), client.MatchingLabels{"gateway.networking.k8s.io/gateway-name": gateway}}
	for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}} {
		if err := c.List(context.Background(), list, sel...); err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(list); n > 0 {
			t.Errorf("%T: %d objects for Gateway %s, want none", list, n, gateway)
		}
	}
}
