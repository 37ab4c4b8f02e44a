// Package bench measures meshd's hot paths at mesh sizes of 100, 1,000 and 10,000
// services, each with a VirtualService (header match and an 80/20 subset split), a
// DestinationRule (two subsets, consistent hashing) and three endpoints. Run with
// `make bench`; compare runs with benchstat, as these machines are shared and noisy.
package bench

import (
	"fmt"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds"
	"github.com/meshd-io/meshd/internal/xds/grpcgen"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/sidecargen"
)

var sizes = []int{100, 1000, 10000}

// mesh builds the inputs of a mesh of n services spread over 10 namespaces.
func mesh(n int, weight int32) (model.Inputs, model.EndpointIndex) {
	in := model.Inputs{}
	idx := model.EndpointIndex{}
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("ns-%d", i%10)
		name := fmt.Sprintf("svc-%d", i)
		svc := model.ServiceFromKube(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 9080}}},
		}, model.DefaultClusterDomain)
		in.Services = append(in.Services, svc)
		meta := metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.Unix(int64(i), 0)}
		in.VirtualServices = append(in.VirtualServices, &networkingv1.VirtualService{ObjectMeta: meta,
			Spec: networkingv1.VirtualServiceSpec{Hosts: []string{name}, HTTP: []networkingv1.HTTPRoute{
				{Match: []networkingv1.HTTPMatchRequest{{Headers: map[string]networkingv1.StringMatch{"end-user": {Exact: ptr.To("jason")}}}},
					Route: []networkingv1.HTTPRouteDestination{{Destination: networkingv1.Destination{Host: name, Subset: "v2"}}}},
				{Route: []networkingv1.HTTPRouteDestination{
					{Destination: networkingv1.Destination{Host: name, Subset: "v1"}, Weight: weight},
					{Destination: networkingv1.Destination{Host: name, Subset: "v2"}, Weight: 100 - weight}}},
			}}})
		in.DestinationRules = append(in.DestinationRules, &networkingv1.DestinationRule{ObjectMeta: meta,
			Spec: networkingv1.DestinationRuleSpec{Host: name,
				TrafficPolicy: &networkingv1.TrafficPolicy{LoadBalancer: &networkingv1.LoadBalancerSettings{
					ConsistentHash: &networkingv1.ConsistentHashLB{HTTPHeaderName: ptr.To("x-user")}}},
				Subsets: []networkingv1.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}}})
		key := model.EndpointKey{Hostname: svc.Hostname, Port: 9080}
		for e := 0; e < 3; e++ {
			idx[key] = append(idx[key], model.Endpoint{Address: fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, e), Port: 8080,
				Labels: map[string]string{"version": fmt.Sprintf("v%d", e%2+1)}, Ready: true})
		}
	}
	return in, idx
}

// BenchmarkTranslate: the whole snapshot to IR, with validation and status.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range sizes {
		in, _ := mesh(n, 80)
		snap := model.NewSnapshot(in)
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				translate.Translate(snap)
			}
		})
	}
}

// BenchmarkGenerateGRPC: the IR to every proxyless gRPC resource of one scope.
func BenchmarkGenerateGRPC(b *testing.B) {
	for _, n := range sizes {
		in, idx := mesh(n, 80)
		out, _ := translate.Translate(model.NewSnapshot(in))
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res := grpcgen.Generate(out, grpcgen.Scope{Namespace: "ns-0"})
				render.Endpoints(res.EDS, idx, render.Proxyless, render.Scope{Namespace: "ns-0"})
			}
		})
	}
}

// BenchmarkGenerateSidecar: the IR to every Envoy sidecar resource of one scope.
func BenchmarkGenerateSidecar(b *testing.B) {
	for _, n := range sizes {
		in, idx := mesh(n, 80)
		out, _ := translate.Translate(model.NewSnapshot(in))
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			scope := render.Scope{Namespace: "ns-0"}
			for b.Loop() {
				res := sidecargen.Generate(out, scope)
				render.Endpoints(res.EDS, idx, render.Envoy, scope)
			}
		})
	}
}

// BenchmarkPushOneChange: one VirtualService changed, end to end inside the control
// plane: translate, generate for one connected scope (proxyless gRPC or sidecar), hash
// and diff, update the caches.
func BenchmarkPushOneChange(b *testing.B) {
	for _, class := range []string{xds.ClassGRPC, xds.ClassSidecar} {
		for _, n := range sizes {
			in, idx := mesh(n, 80)
			srv := xds.NewServer(logr.Discard())
			x := &translate.Incremental{}
			out, _ := x.Translate(model.NewSnapshot(in))
			srv.Update(out)
			srv.UpdateEndpoints(idx)
			srv.WarmScope(class, "ns-0")
			b.Run(fmt.Sprintf("%s/services=%d", class, n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					pushOneChange(srv, x, in, i)
				}
			})
		}
	}
}

// pushOneChange changes the first VirtualService's split (step i) and pushes the
// mesh's new config, as the pipeline does on that change: a new snapshot, translated
// by the pipeline's incremental translator.
func pushOneChange(srv *xds.Server, x *translate.Incremental, in model.Inputs, i int) {
	changeVirtualService(in, i)
	out, _ := x.Translate(model.NewSnapshot(in))
	srv.Update(out)
}

// changeVirtualService gives the first VirtualService a new split (step i), as a
// new version from the API server would be: a new object.
func changeVirtualService(in model.Inputs, i int) {
	w := int32(10 + i%80)
	in.VirtualServices[0] = in.VirtualServices[0].DeepCopy()
	in.VirtualServices[0].Spec.HTTP[1].Route[0].Weight = w
	in.VirtualServices[0].Spec.HTTP[1].Route[1].Weight = 100 - w
}

// policies are one AuthorizationPolicy per service: its workloads take GET and POST
// from the services of their namespace.
func policies(in model.Inputs) []*securityv1.AuthorizationPolicy {
	out := make([]*securityv1.AuthorizationPolicy, 0, len(in.Services))
	for i, svc := range in.Services {
		out = append(out, &securityv1.AuthorizationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Generation: 1, CreationTimestamp: metav1.Unix(int64(i), 0)},
			Spec: securityv1.AuthorizationPolicySpec{
				Selector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": svc.Name}},
				Rules: []securityv1.Rule{{
					From: []securityv1.RuleFrom{{Source: &securityv1.Source{Namespaces: []string{svc.Namespace}}}},
					To:   []securityv1.RuleTo{{Operation: &securityv1.Operation{Methods: []string{"GET", "POST"}}}},
				}},
			}})
	}
	return out
}

// changeAuthorizationPolicy changes the first AuthorizationPolicy's methods (step i).
func changeAuthorizationPolicy(in model.Inputs, i int) {
	ap := in.AuthorizationPolicies[0].DeepCopy()
	ap.Spec.Rules[0].To[0].Operation.Methods = []string{"GET", fmt.Sprintf("X-STEP-%d", i%50)}
	in.AuthorizationPolicies[0] = ap
}

// BenchmarkEndpointIndex: an endpoints pass's index of n services' EndpointSlices (ten
// endpoints each, with pods) after one slice changed: built afresh (IndexEndpoints, as
// every pass did) and by the EndpointIndexer the pipeline keeps, which rebuilds the
// changed slice's service ports only.
func BenchmarkEndpointIndex(b *testing.B) {
	for _, n := range sizes {
		var services []*model.Service
		var pods []*corev1.Pod
		var slices []*discoveryv1.EndpointSlice
		for i := range n {
			ns, name := fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("svc-%d", i)
			services = append(services, model.ServiceFromKube(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}, model.DefaultClusterDomain))
			s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name), ResourceVersion: "1",
				Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4,
				Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}}
			for e := range 10 {
				pod := fmt.Sprintf("%s-%d", name, e)
				pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, ResourceVersion: "1",
					Labels: map[string]string{"app": name}}})
				s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i/256%256, i%256, e)},
					TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}})
			}
			slices = append(slices, s)
		}
		in := model.NewDiscoveryInputs(services, pods, nil)
		changeOne := func(i int) {
			s := slices[i%n].DeepCopy()
			s.ResourceVersion = fmt.Sprint(i + 2)
			s.Endpoints[0].Conditions.Ready = ptr.To(i%2 == 0)
			slices[i%n] = s
		}
		b.Run(fmt.Sprintf("services=%d/afresh", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				changeOne(i)
				i++
				model.IndexEndpoints(slices, in)
			}
		})
		b.Run(fmt.Sprintf("services=%d/indexer", n), func(b *testing.B) {
			b.ReportAllocs()
			var x model.EndpointIndexer
			x.Index(slices, in)
			i := 0
			for b.Loop() {
				changeOne(i)
				i++
				x.Index(slices, in)
			}
		})
	}
}

// BenchmarkWorkloads: an endpoints pass's ambient workloads of n*10 pods after one pod
// changed: converted afresh (NewWorkloads, as every pass did) and by the
// PodConversions the pipeline keeps.
func BenchmarkWorkloads(b *testing.B) {
	for _, n := range sizes {
		var pods []*corev1.Pod
		for i := range n * 10 {
			pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: fmt.Sprintf("ns-%d", i%10),
				UID: types.UID(fmt.Sprint(i)), ResourceVersion: "1", Labels: map[string]string{"app": fmt.Sprintf("svc-%d", i/10)}},
				Spec: corev1.PodSpec{ServiceAccountName: "default"},
				Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256), Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
		}
		changeOne := func(i int) {
			p := pods[i%len(pods)].DeepCopy()
			p.ResourceVersion = fmt.Sprint(i + 2)
			p.Labels = map[string]string{"app": "changed", "v": fmt.Sprint(i)}
			pods[i%len(pods)] = p
		}
		b.Run(fmt.Sprintf("pods=%d/afresh", n*10), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				changeOne(i)
				i++
				model.NewWorkloads(pods, nil, nil)
			}
		})
		b.Run(fmt.Sprintf("pods=%d/kept", n*10), func(b *testing.B) {
			b.ReportAllocs()
			var c model.PodConversions
			c.Workloads(pods, nil, nil)
			i := 0
			for b.Loop() {
				changeOne(i)
				i++
				c.Workloads(pods, nil, nil)
			}
		})
	}
}
