package testutil

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/model"
)

// LoadSnapshot reads a golden input: Services, EndpointSlices, Pods, Nodes,
// VirtualServices, DestinationRules and a Mesh, from a multi-document YAML file, and
// builds the snapshot and endpoint index the controllers would. Objects without a
// namespace go to "default"; without a creationTimestamp they get one from their order
// in the file, so "oldest first" is the file's order.
func LoadSnapshot(t testing.TB, path string) (*model.Snapshot, model.EndpointIndex) {
	t.Helper()
	snap, idx, _ := LoadMesh(t, path)
	return snap, idx
}

// LoadMesh is LoadSnapshot, with the workloads (pods, nodes and namespaces' labels)
// the endpoint pass hands to ztunnel and waypoints.
func LoadMesh(t testing.TB, path string) (*model.Snapshot, model.EndpointIndex, model.Workloads) {
	t.Helper()
	objs, err := DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in := model.Inputs{}
	var (
		slices []*discoveryv1.EndpointSlice
		pods   []*corev1.Pod
		nodes  []*corev1.Node
	)
	for i, u := range objs {
		if u.GetNamespace() == "" && !clusterScoped[u.GetKind()] {
			u.SetNamespace("default")
		}
		if ts := u.GetCreationTimestamp(); ts.IsZero() {
			u.SetCreationTimestamp(metav1.Unix(int64(1_700_000_000+i), 0))
		}
		if u.GetGeneration() == 0 {
			u.SetGeneration(1)
		}
		var target any
		switch u.GetKind() {
		case "Service":
			target = &corev1.Service{}
		case "EndpointSlice":
			target = &discoveryv1.EndpointSlice{}
		case "Pod":
			target = &corev1.Pod{}
		case "Node":
			target = &corev1.Node{}
		case "VirtualService":
			target = &networkingv1.VirtualService{}
		case "DestinationRule":
			target = &networkingv1.DestinationRule{}
		case "Sidecar":
			target = &networkingv1.Sidecar{}
		case "Mesh":
			target = &meshv1alpha1.Mesh{}
		case "AuthorizationPolicy":
			target = &securityv1.AuthorizationPolicy{}
		case "PeerAuthentication":
			target = &securityv1.PeerAuthentication{}
		case "Namespace":
			target = &corev1.Namespace{}
		case "Secret":
			target = &corev1.Secret{}
		case "GatewayClass":
			target = &gatewayv1.GatewayClass{}
		case "Gateway":
			target = &gatewayv1.Gateway{}
		case "HTTPRoute":
			target = &gatewayv1.HTTPRoute{}
		case "GRPCRoute":
			target = &gatewayv1.GRPCRoute{}
		case "TCPRoute":
			target = &gatewayv1.TCPRoute{}
		case "TLSRoute":
			target = &gatewayv1.TLSRoute{}
		case "ReferenceGrant":
			target = &gatewayv1.ReferenceGrant{}
		default:
			t.Fatalf("%s: unexpected kind %s", path, u.GetKind())
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, target, true); err != nil {
			t.Fatalf("%s: %s %s: %v", path, u.GetKind(), u.GetName(), err)
		}
		switch o := target.(type) {
		case *corev1.Service:
			in.Services = append(in.Services, model.ServiceFromKube(o, model.DefaultClusterDomain))
			if in.GatewayAPI.ProxyServices == nil {
				in.GatewayAPI.ProxyServices = map[string]*corev1.Service{}
			}
			in.GatewayAPI.ProxyServices[o.Namespace+"/"+o.Name] = o
		case *discoveryv1.EndpointSlice:
			slices = append(slices, o)
		case *corev1.Pod:
			pods = append(pods, o)
		case *corev1.Node:
			nodes = append(nodes, o)
		case *networkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, o)
		case *networkingv1.DestinationRule:
			in.DestinationRules = append(in.DestinationRules, o)
		case *networkingv1.Sidecar:
			in.Sidecars = append(in.Sidecars, o)
		case *meshv1alpha1.Mesh:
			in.Mesh = &o.Spec
		case *securityv1.AuthorizationPolicy:
			in.AuthorizationPolicies = append(in.AuthorizationPolicies, o)
		case *securityv1.PeerAuthentication:
			in.PeerAuthentications = append(in.PeerAuthentications, o)
		default:
			addGatewayAPI(&in.GatewayAPI, o)
		}
	}
	discovery := model.NewDiscoveryInputs(in.Services, pods, nodes)
	discovery.NamespaceLabels = in.GatewayAPI.NamespaceLabels
	idx := model.IndexEndpoints(slices, discovery)
	return model.NewSnapshot(in), idx, model.NewWorkloads(pods, nodes, in.GatewayAPI.NamespaceLabels)
}

// clusterScoped kinds get no default namespace.
var clusterScoped = map[string]bool{"Mesh": true, "Node": true, "Namespace": true, "GatewayClass": true}

// addGatewayAPI files a Gateway API object, a Namespace (its labels) or a Secret (its
// name only, as the controllers read them) into the snapshot's inputs.
func addGatewayAPI(g *model.GatewayAPI, obj any) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if g.NamespaceLabels == nil {
			g.NamespaceLabels = map[string]map[string]string{}
		}
		g.NamespaceLabels[o.Name] = o.Labels
	case *corev1.Secret:
		if g.Secrets == nil {
			g.Secrets = map[string]bool{}
		}
		g.Secrets[o.Namespace+"/"+o.Name] = true
	case *gatewayv1.GatewayClass:
		g.Classes = append(g.Classes, o)
	case *gatewayv1.Gateway:
		g.Gateways = append(g.Gateways, o)
	case *gatewayv1.HTTPRoute:
		g.HTTPRoutes = append(g.HTTPRoutes, o)
	case *gatewayv1.GRPCRoute:
		g.GRPCRoutes = append(g.GRPCRoutes, o)
	case *gatewayv1.TCPRoute:
		g.TCPRoutes = append(g.TCPRoutes, o)
	case *gatewayv1.TLSRoute:
		g.TLSRoutes = append(g.TLSRoutes, o)
	case *gatewayv1.ReferenceGrant:
		g.ReferenceGrants = append(g.ReferenceGrants, o)
	}
}
