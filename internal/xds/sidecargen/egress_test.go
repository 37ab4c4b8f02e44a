package sidecargen

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds/render"
)

func service(ns, name, ip, portName string, port int32) *model.Service {
	return model.ServiceFromKube(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: portName, Port: port}}},
	}, model.DefaultClusterDomain)
}

func shopSidecar(egress ...networkingv1.IstioEgressListener) []*networkingv1.Sidecar {
	return []*networkingv1.Sidecar{{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "shop"}, Spec: networkingv1.SidecarSpec{Egress: egress}}}
}

// generateShop translates in and generates the config of a sidecar in shop.
func generateShop(t *testing.T, in model.Inputs) *render.Resources {
	t.Helper()
	out, _ := translate.Translate(model.NewSnapshot(in))
	return Generate(out, render.Scope{Namespace: "shop"})
}

func clusterNamed(res *render.Resources, name string) bool {
	for _, c := range res.Clusters {
		if c.Name == name {
			return true
		}
	}
	return false
}

// TestSidecarMirrorDestination: a service only an imported route mirrors to gets its
// cluster, as a routed one does (Istio collects mirrors with destinations).
func TestSidecarMirrorDestination(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{service("shop", "reviews", "10.0.0.1", "http", 80), service("other", "shadow", "10.0.0.2", "http", 80)},
		VirtualServices: []*networkingv1.VirtualService{{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "shop"},
			Spec: networkingv1.VirtualServiceSpec{Hosts: []string{"reviews"}, HTTP: []networkingv1.HTTPRoute{{
				Route:  []networkingv1.HTTPRouteDestination{{Destination: networkingv1.Destination{Host: "reviews"}}},
				Mirror: &networkingv1.Destination{Host: "shadow.other.svc.cluster.local"}}}}}},
		Sidecars: shopSidecar(networkingv1.IstioEgressListener{Hosts: []string{"./*"}})}
	if res := generateShop(t, in); !clusterNamed(res, "outbound|80||shadow.other.svc.cluster.local") {
		t.Error("the mirror's destination has no cluster")
	}
}

// TestSidecarCatchAllTakesItsVirtualServices: a TCP service with its own address that
// only the catch-all listener imports, on a port another egress listener names, takes
// the VirtualServices the catch-all imports (not the port's listener's).
func TestSidecarCatchAllTakesItsVirtualServices(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{service("other", "db", "10.0.0.3", "tcp", 9000), service("other", "db2", "10.0.0.4", "tcp", 9000)},
		VirtualServices: []*networkingv1.VirtualService{{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "other"},
			Spec: networkingv1.VirtualServiceSpec{Hosts: []string{"db.other.svc.cluster.local"}, TCP: []networkingv1.TCPRoute{{
				Route: []networkingv1.RouteDestination{{Destination: networkingv1.Destination{Host: "db2.other.svc.cluster.local"}}}}}}}},
		Sidecars: shopSidecar(
			networkingv1.IstioEgressListener{Port: &networkingv1.SidecarPort{Number: 9000, Protocol: "TCP", Name: "tcp"}, Hosts: []string{"./*"}},
			networkingv1.IstioEgressListener{Hosts: []string{"other/db.other.svc.cluster.local"}})}
	res := generateShop(t, in)
	if !clusterNamed(res, "outbound|9000||db2.other.svc.cluster.local") {
		t.Error("the routed service db2 has no cluster")
	}
	for _, l := range res.Listeners {
		if l.Name == "10.0.0.3_9000" {
			if got := tcpTarget(t, append(l.FilterChains, l.DefaultFilterChain)[0]); got != "outbound|9000||db2.other.svc.cluster.local" {
				t.Errorf("db's listener sends to %s, want db2 as the VirtualService says", got)
			}
			return
		}
	}
	t.Error("db has no listener")
}

// TestSidecarEgressPortProtocol: an egress listener's declared protocol decides how
// the port is taken: a service port named as TCP is routed as HTTP when the Sidecar's
// listener for the port says HTTP.
func TestSidecarEgressPortProtocol(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{service("shop", "legacy", "10.0.0.5", "tcp", 8080)},
		Sidecars: shopSidecar(networkingv1.IstioEgressListener{Port: &networkingv1.SidecarPort{Number: 8080, Protocol: "HTTP", Name: "http"}, Hosts: []string{"./*"}})}
	res := generateShop(t, in)
	for _, rc := range res.Routes {
		if rc.Name == "8080" {
			return
		}
	}
	t.Errorf("port 8080 has no route configuration: the Sidecar's HTTP was not applied (listeners: %d)", len(res.Listeners))
}

// tcpTarget is the cluster a filter chain's TCP proxy sends to.
func tcpTarget(t *testing.T, fc *listenerv3.FilterChain) string {
	t.Helper()
	var tp tcpproxyv3.TcpProxy
	filters := fc.GetFilters()
	if len(filters) == 0 || filters[len(filters)-1].GetTypedConfig().UnmarshalTo(&tp) != nil {
		t.Fatalf("chain %s has no TCP proxy", fc.GetName())
	}
	return tp.GetCluster()
}
