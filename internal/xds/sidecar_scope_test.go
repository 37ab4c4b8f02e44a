package xds

import (
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds/render"
)

func httpService(ns, name, ip string) *model.Service {
	return model.ServiceFromKube(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}, model.DefaultClusterDomain)
}

func namespaceSidecar(ns string, spec networkingv1.SidecarSpec) *networkingv1.Sidecar {
	return &networkingv1.Sidecar{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns, Generation: 1, ResourceVersion: "1"}, Spec: spec}
}

// sidecarScopeUpdate serves in, then the edit of it, to a sidecar and a proxyless
// client of namespace shop, and checks both get what a fresh generation gives: the
// cases the shortcut that leaves unchanged scopes alone must not miss.
func sidecarScopeUpdate(t *testing.T, in model.Inputs, edit func(*model.Inputs)) {
	t.Helper()
	x := &translate.Incremental{}
	srv := NewServer(logr.Discard())
	out, _ := x.Translate(model.NewSnapshot(in))
	srv.Update(out)
	var scopes []*scope
	for _, class := range []string{ClassSidecar, ClassGRPC} {
		sc, err := srv.scopeFor(nodeInfo{Class: class, Namespace: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		scopes = append(scopes, sc)
	}
	edit(&in)
	out, _ = x.Translate(model.NewSnapshot(in))
	srv.Update(out)
	for _, sc := range scopes {
		servesConfigOf(t, sc, out, render.Scope{Namespace: "shop"}, sc.key.String())
	}
}

// TestSidecarEditReachesScopes: an edit of a Sidecar's ingress listeners alone (no
// service changes) reaches its sidecars.
func TestSidecarEditReachesScopes(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{httpService("shop", "reviews", "10.0.0.1")},
		Sidecars: []*networkingv1.Sidecar{namespaceSidecar("shop", networkingv1.SidecarSpec{Egress: []networkingv1.IstioEgressListener{{Hosts: []string{"./*"}}}})}}
	sidecarScopeUpdate(t, in, func(in *model.Inputs) {
		sc := in.Sidecars[0].DeepCopy()
		sc.Generation, sc.ResourceVersion = 2, "2"
		sc.Spec.Ingress = []networkingv1.IstioIngressListener{{Port: &networkingv1.SidecarPort{Number: 9080, Protocol: "HTTP", Name: "http"}, DefaultEndpoint: "127.0.0.1:8080"}}
		in.Sidecars = []*networkingv1.Sidecar{sc}
	})
}

// TestEgressProxyCreatedLater: the egress proxy's Service, created after the Sidecar
// naming it and imported by none of its hosts, gets its cluster in the scope.
func TestEgressProxyCreatedLater(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{httpService("shop", "reviews", "10.0.0.1")},
		Sidecars: []*networkingv1.Sidecar{namespaceSidecar("shop", networkingv1.SidecarSpec{
			Egress: []networkingv1.IstioEgressListener{{Hosts: []string{"./*"}}},
			OutboundTrafficPolicy: &networkingv1.OutboundTrafficPolicy{Mode: networkingv1.OutboundAllowAny,
				EgressProxy: &networkingv1.Destination{Host: "egress.istio-system.svc.cluster.local", Port: &networkingv1.PortSelector{Number: 80}}}})}}
	sidecarScopeUpdate(t, in, func(in *model.Inputs) {
		in.Services = append(in.Services, httpService("istio-system", "egress", "10.0.0.2"))
	})
}

// TestRoutedServiceCreatedLater: a service an imported VirtualService routes to,
// created later, gets its cluster in the scope (the VirtualService is translated
// again with it).
func TestRoutedServiceCreatedLater(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{httpService("shop", "reviews", "10.0.0.1")},
		VirtualServices: []*networkingv1.VirtualService{{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "shop", Generation: 1, ResourceVersion: "1"},
			Spec: networkingv1.VirtualServiceSpec{Hosts: []string{"reviews"}, HTTP: []networkingv1.HTTPRoute{{
				Route: []networkingv1.HTTPRouteDestination{{Destination: networkingv1.Destination{Host: "shadow.other.svc.cluster.local"}}}}}}}},
		Sidecars: []*networkingv1.Sidecar{namespaceSidecar("shop", networkingv1.SidecarSpec{Egress: []networkingv1.IstioEgressListener{{Hosts: []string{"./*"}}}})}}
	sidecarScopeUpdate(t, in, func(in *model.Inputs) {
		in.Services = append(in.Services, httpService("other", "shadow", "10.0.0.2"))
	})
}
