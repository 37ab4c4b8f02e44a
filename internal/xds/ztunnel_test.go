package xds

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/go-logr/logr"
	"istio.io/istio/pkg/workloadapi"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds/ztunnelgen"
)

func ambientPod(name, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "reviews"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
}

// TestZtunnelDelta: a ztunnel (node id ztunnel~...) subscribing by wildcard over delta
// ADS gets every workload and service as an Address; a pod that changes is re-sent
// alone, one that goes is removed, and workloads or endpoints that did not change send
// nothing.
func TestZtunnelDelta(t *testing.T) {
	snap, eps := testutil.LoadSnapshot(t, testData)
	out, _ := translate.Translate(snap)
	s := NewServer(logr.Discard())
	s.Update(out)
	labels := map[string]map[string]string{"default": {model.LabelDataplaneMode: "ambient"}}
	w := model.NewWorkloads([]*corev1.Pod{ambientPod("a", "10.9.0.1", true), ambientPod("b", "10.9.0.2", true)}, nil, labels)
	s.UpdateDiscovery(eps, &w)
	conn := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := adsclient.DialDelta(ctx, conn, &corev3.Node{Id: "ztunnel~10.0.0.1~ztunnel-x.istio-system~istio-system.svc.cluster.local"},
		ztunnelgen.AddressType, ztunnelgen.AuthorizationType)
	if err != nil {
		t.Fatal(err)
	}
	podA, podB := ztunnelgen.ClusterID+"//Pod/default/a", ztunnelgen.ClusterID+"//Pod/default/b"
	services := len(out.Services)
	if err := c.Wait(ctx, func(st adsclient.DeltaState) bool {
		return len(st.Resources[ztunnelgen.AddressType]) == services+2 && st.Acks[ztunnelgen.AddressType] > 0
	}); err != nil {
		t.Fatal(err)
	}
	var addr workloadapi.Address
	if err := c.Snapshot().Resources[ztunnelgen.AddressType][podA].UnmarshalTo(&addr); err != nil {
		t.Fatal(err)
	}
	if wl := addr.GetWorkload(); wl.GetTunnelProtocol() != workloadapi.TunnelProtocol_HBONE || wl.GetUid() != podA {
		t.Errorf("pod a: %v", wl)
	}
	received := c.Snapshot().Received[ztunnelgen.AddressType]
	if pp := s.Progress(); len(pp) != 0 {
		t.Errorf("ztunnel counted as a proxy holding routing config: %+v", pp)
	}

	// The same inputs again: nothing is sent.
	same := model.NewWorkloads([]*corev1.Pod{ambientPod("a", "10.9.0.1", true), ambientPod("b", "10.9.0.2", true)}, nil, labels)
	s.UpdateDiscovery(eps, &same)
	// b turns unready: only b is sent; then a goes: only a is removed.
	w = model.NewWorkloads([]*corev1.Pod{ambientPod("a", "10.9.0.1", true), ambientPod("b", "10.9.0.2", false)}, nil, labels)
	s.UpdateDiscovery(eps, &w)
	if err := c.Wait(ctx, func(st adsclient.DeltaState) bool {
		return st.Received[ztunnelgen.AddressType] > received
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot().Received[ztunnelgen.AddressType] - received; got != 1 {
		t.Errorf("a change of one pod sent %d addresses, want 1", got)
	}
	w = model.NewWorkloads([]*corev1.Pod{ambientPod("b", "10.9.0.2", false)}, nil, labels)
	s.UpdateDiscovery(eps, &w)
	if err := c.Wait(ctx, func(st adsclient.DeltaState) bool {
		_, hasA := st.Resources[ztunnelgen.AddressType][podA]
		_, hasB := st.Resources[ztunnelgen.AddressType][podB]
		return !hasA && hasB
	}); err != nil {
		t.Fatal(err)
	}
	if st := c.Snapshot(); st.Removed[ztunnelgen.AddressType] != 1 || st.Received[ztunnelgen.AddressType] != received+1 {
		t.Errorf("deleting a pod: removed %d, received %d more; want 1 removal and nothing else", st.Removed[ztunnelgen.AddressType], st.Received[ztunnelgen.AddressType]-received)
	}
}
