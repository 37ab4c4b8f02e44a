package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/xds/ztunnelgen"
)

// TestZtunnelWorkloadDiscovery: a ztunnel (a raw delta ADS client with ztunnel's node
// ID, subscribed by wildcard to Istio's Address and Authorization types, ACKing every
// response) receives an ambient namespace's pods as HBONE workloads with the service
// ports they back; the Service labelled istio.io/use-waypoint gets its waypoint's
// address once the istio-waypoint Gateway is deployed; an L4 AuthorizationPolicy
// arrives as an Authorization its pods list; a deleted pod arrives as a removal.
func TestZtunnelWorkloadDiscovery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := newNamespace(t)
	setNamespaceLabels(t, ns, map[string]string{"istio.io/dataplane-mode": "ambient"})
	f := &meshFixture{t: t, ns: ns}
	f.apply(`
apiVersion: v1
kind: Service
metadata: {name: reviews, labels: {istio.io/use-waypoint: waypoint}}
spec:
  ports: [{name: http, port: 9080, targetPort: 8080}]
`)
	for i, name := range []string{"reviews-a", "reviews-b"} {
		runningPod(t, ns, name, fmt.Sprintf("10.44.0.%d", i+1))
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "reviews-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
	}
	for i, name := range []string{"reviews-a", "reviews-b"} {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.44.0.%d", i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: name, Namespace: ns}})
	}
	if err := env.Client.Create(ctx, slice); err != nil {
		t.Fatal(err)
	}

	conn, err := grpc.NewClient(env.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	zt, err := adsclient.DialDelta(ctx, conn, &corev3.Node{Id: "ztunnel~10.0.0.7~ztunnel-x7k2p.istio-system~istio-system.svc.cluster.local"},
		ztunnelgen.AddressType, ztunnelgen.AuthorizationType)
	if err != nil {
		t.Fatal(err)
	}
	podA, podB := ztunnelgen.ClusterID+"//Pod/"+ns+"/reviews-a", ztunnelgen.ClusterID+"//Pod/"+ns+"/reviews-b"
	host := "reviews." + ns + ".svc.cluster.local"
	svcName := ns + "/" + host
	wait := func(step string, check func(adsclient.DeltaState) error) {
		t.Helper()
		var last error
		if err := zt.Wait(ctx, func(st adsclient.DeltaState) bool { last = check(st); return last == nil }); err != nil {
			t.Fatalf("%s: %v (last: %v)", step, err, last)
		}
	}
	wait("workloads", func(st adsclient.DeltaState) error {
		for _, uid := range []string{podA, podB} {
			w := address(t, st, uid).GetWorkload()
			switch {
			case w == nil:
				return fmt.Errorf("no workload %s", uid)
			case w.GetTunnelProtocol() != workloadapi.TunnelProtocol_HBONE:
				return fmt.Errorf("%s is not HBONE: %v", uid, w)
			case len(w.GetServices()[svcName].GetPorts()) != 1 || w.GetServices()[svcName].GetPorts()[0].GetTargetPort() != 8080:
				return fmt.Errorf("%s does not back %s on 9080->8080: %v", uid, svcName, w.GetServices())
			}
		}
		if address(t, st, svcName).GetService() == nil {
			return fmt.Errorf("no service %s", svcName)
		}
		return nil
	})

	// The waypoint: once deployed, its Service's address is the reviews Service's
	// waypoint.
	waypoint := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "waypoint", Namespace: ns},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "istio-waypoint",
			Listeners: []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}}}
	if err := env.Client.Create(ctx, waypoint); err != nil {
		t.Fatal(err)
	}
	wait("service waypoint", func(st adsclient.DeltaState) error {
		wp := address(t, st, svcName).GetService().GetWaypoint()
		if len(wp.GetAddress().GetAddress()) == 0 || wp.GetHboneMtlsPort() != 15008 {
			return fmt.Errorf("%s has no waypoint address: %v", svcName, address(t, st, svcName))
		}
		return nil
	})

	// An L4 policy: an Authorization the selected pods name.
	f.apply(fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-callers}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/%s/sa/productpage]}}], to: [{operation: {ports: ["8080"]}}]}]
`, ns))
	policy := ns + "/reviews-callers"
	wait("authorization", func(st adsclient.DeltaState) error {
		a := &security.Authorization{}
		any := st.Resources[ztunnelgen.AuthorizationType][policy]
		if any == nil {
			return fmt.Errorf("no authorization %s", policy)
		}
		if err := any.UnmarshalTo(a); err != nil {
			t.Fatal(err)
		}
		if a.GetScope() != security.Scope_WORKLOAD_SELECTOR || len(a.GetGroups()) != 1 {
			return fmt.Errorf("authorization %s: %v", policy, a)
		}
		if got := address(t, st, podA).GetWorkload().GetAuthorizationPolicies(); len(got) != 1 || got[0] != policy {
			return fmt.Errorf("%s lists policies %v, want [%s]", podA, got, policy)
		}
		return nil
	})

	// STRICT mTLS for the namespace: its pods also list the static policy that denies
	// plaintext, and that policy arrives.
	f.apply(`
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
`)
	strict := "istio-system/istio_converted_static_strict"
	wait("peer authentication", func(st adsclient.DeltaState) error {
		if st.Resources[ztunnelgen.AuthorizationType][strict] == nil {
			return fmt.Errorf("no authorization %s", strict)
		}
		if got := address(t, st, podA).GetWorkload().GetAuthorizationPolicies(); !slices.Equal(got, []string{strict, policy}) {
			return fmt.Errorf("%s lists policies %v, want [%s %s]", podA, got, strict, policy)
		}
		return nil
	})

	// A pod deletion arrives as a removal.
	if err := env.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reviews-b", Namespace: ns}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	wait("pod deleted", func(st adsclient.DeltaState) error {
		if _, ok := st.Resources[ztunnelgen.AddressType][podB]; ok || st.Removed[ztunnelgen.AddressType] == 0 {
			return fmt.Errorf("%s not removed (removals %v)", podB, st.Removed)
		}
		if address(t, st, podA) == nil {
			return fmt.Errorf("%s went too", podA)
		}
		return nil
	})
	if st := zt.Snapshot(); st.Acks[ztunnelgen.AddressType] == 0 || st.Acks[ztunnelgen.AuthorizationType] == 0 {
		t.Errorf("ztunnel acknowledged nothing: %v", st.Acks)
	}
}

// address decodes the Address named name, or nil.
func address(t *testing.T, st adsclient.DeltaState, name string) *workloadapi.Address {
	t.Helper()
	any := st.Resources[ztunnelgen.AddressType][name]
	if any == nil {
		return nil
	}
	a := &workloadapi.Address{}
	if err := any.UnmarshalTo(a); err != nil {
		t.Fatal(err)
	}
	return a
}

// runningPod creates a pod and sets the status a kubelet would: running, ready, ip.
func runningPod(t *testing.T, ns, name, ip string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "reviews"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "reviews", Containers: []corev1.Container{{Name: "app", Image: "reviews"}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

// setNamespaceLabels adds labels to a namespace.
func setNamespaceLabels(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, ns); err != nil {
		t.Fatal(err)
	}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	if err := env.Client.Update(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}
