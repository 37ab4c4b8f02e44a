package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// There is no Envoy binary on these machines, so sidecars are proven at the protocol
// level: adsclient subscribes exactly as Envoy does (wildcard listeners and clusters,
// then the routes and endpoints they name), validates every resource as Envoy would and
// ACKs or NACKs. The generated config itself is golden-tested in internal/xds/sidecargen.

// sidecar connects an Envoy-style ADS client with an Istio sidecar node ID in ns.
func sidecar(t *testing.T, ctx context.Context, ns string) *adsclient.Client {
	t.Helper()
	return sidecarWithLabels(t, ctx, ns, nil)
}

// sidecarWithLabels is sidecar for a pod with labels (node metadata LABELS, as
// Istio's agent sends them).
func sidecarWithLabels(t *testing.T, ctx context.Context, ns string, labels map[string]string) *adsclient.Client {
	t.Helper()
	return proxyNode(t, ctx, fmt.Sprintf("sidecar~10.1.0.5~productpage-1.%s~%s.svc.cluster.local", ns, ns), labels)
}

// proxyNode connects an Envoy-style ADS client with the given node ID and pod labels.
func proxyNode(t *testing.T, ctx context.Context, id string, labels map[string]string) *adsclient.Client {
	t.Helper()
	conn, err := grpc.NewClient(env.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	node := &corev3.Node{Id: id}
	if len(labels) > 0 {
		fields := map[string]*structpb.Value{}
		for k, v := range labels {
			fields[k] = structpb.NewStringValue(v)
		}
		node.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{"LABELS": structpb.NewStructValue(&structpb.Struct{Fields: fields})}}
	}
	c, err := adsclient.Dial(ctx, conn, node)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// weights returns the weighted clusters of the first weighted route of host in route
// configuration rc ("" cluster names when none).
func weights(st adsclient.State, rc, host string) map[string]uint32 {
	out := map[string]uint32{}
	for _, vh := range st.Routes[rc].GetVirtualHosts() {
		if !strings.HasPrefix(vh.Name, host+":") {
			continue
		}
		for _, r := range vh.Routes {
			if w := r.GetRoute().GetWeightedClusters().GetClusters(); len(w) > 0 {
				for _, c := range w {
					out[c.Name] = c.Weight.GetValue()
				}
				return out
			}
		}
	}
	return out
}

// TestSidecarConfig: an Envoy sidecar gets, from Services, EndpointSlices and Istio
// objects written to the API server: the HTTP route configuration of its port with the
// VirtualService's split, subset endpoints with the backends' addresses, and a TCP
// listener from a tcp route; a weight change arrives on the same stream; the
// VirtualService's Programmed condition counts the sidecar.
func TestSidecarConfig(t *testing.T) {
	f := newMeshFixture(t, "v1", "v3")
	f.apply(reviewsDR)
	f.apply(splitVS(80, 20))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: f.ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "tcp-db", Port: 5432}}, Selector: map[string]string{"app": "db"}},
	}
	if err := env.Client.Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	f.apply(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
`)

	c := sidecar(t, ctx, f.ns)
	v1 := fmt.Sprintf("outbound|%d|v1|%s", servicePort, f.host())
	v3 := fmt.Sprintf("outbound|%d|v3|%s", servicePort, f.host())
	dbListener := fmt.Sprintf("%s_5432", db.Spec.ClusterIP)
	dbTarget := func(st adsclient.State) string {
		l := st.Listeners[dbListener]
		if l == nil {
			return ""
		}
		var tp tcpproxyv3.TcpProxy
		chains := append(l.GetFilterChains(), l.GetDefaultFilterChain())
		if chains[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&tp) != nil {
			return ""
		}
		return tp.GetCluster()
	}
	err := c.Wait(ctx, func(st adsclient.State) bool {
		w := weights(st, "9080", f.host())
		return w[v1] == 80 && w[v3] == 20 && len(st.Endpoints[v1].GetEndpoints()) == 1 &&
			dbTarget(st) == fmt.Sprintf("outbound|9080||%s", f.host())
	})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Snapshot()
	if len(st.Nacks) > 0 {
		t.Fatalf("the sidecar rejected meshd's config: %v", st.Nacks)
	}
	ep := st.Endpoints[v1].Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress()
	if b := f.backends["reviews-v1"]; ep.GetAddress() != b.Host() || ep.GetPortValue() != uint32(b.Port()) {
		t.Errorf("v1 endpoint %s:%d, want the backend at %s:%d", ep.GetAddress(), ep.GetPortValue(), b.Host(), b.Port())
	}

	f.apply(splitVS(50, 50))
	if err := c.Wait(ctx, func(st adsclient.State) bool {
		w := weights(st, "9080", f.host())
		return w[v1] == 50 && w[v3] == 50
	}); err != nil {
		t.Fatal(err)
	}

	vsGVK := schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	testutil.Eventually(t, statusTimeout, func() error {
		for _, name := range []string{"reviews", "db"} {
			c := condition(t, vsGVK, f.ns, name, typev1beta1.ConditionProgrammed)
			if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "every connected proxy that gets this config acknowledged") {
				return fmt.Errorf("%s: Programmed = %+v, want True, acknowledged by the connected proxy", name, c)
			}
		}
		return nil
	})
}

// inboundChains lists the names of virtualInbound's filter chains and the RBAC policy
// names its HTTP chains carry.
func inboundChains(st adsclient.State) (chains []string, policies []string) {
	l := st.Listeners["virtualInbound"]
	for _, fc := range l.GetFilterChains() {
		chains = append(chains, fc.GetName())
		for _, f := range fc.GetFilters() {
			var hcm hcmv3.HttpConnectionManager
			if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
				continue
			}
			for _, hf := range hcm.GetHttpFilters() {
				var rbac rbachttpv3.RBAC
				if hf.GetTypedConfig().UnmarshalTo(&rbac) == nil {
					for name := range rbac.GetRules().GetPolicies() {
						policies = append(policies, name)
					}
				}
			}
		}
	}
	return chains, policies
}

// TestSidecarInboundSecurity: a namespace's PeerAuthentication STRICT leaves the
// sidecar's inbound listener only mTLS chains; an AuthorizationPolicy selecting the
// workload by its labels becomes RBAC on them; PERMISSIVE brings plaintext back, on
// the same stream.
func TestSidecarInboundSecurity(t *testing.T) {
	ns := newNamespace(t)
	f := &meshFixture{t: t, ns: ns}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f.apply(peerAuthentication("default", "", "STRICT"))
	f.apply(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: productpage-viewers}
spec:
  selector: {matchLabels: {app: productpage}}
  rules:
  - from: [{source: {namespaces: [frontend]}}]
    to: [{operation: {methods: [GET]}}]
`)
	c := sidecarWithLabels(t, ctx, ns, map[string]string{"app": "productpage"})
	wantPolicy := fmt.Sprintf("ns[%s]-policy[productpage-viewers]-rule[0]", ns)
	plaintext := func(chains []string) bool {
		for _, ch := range chains {
			if strings.Contains(ch, "plaintext") {
				return true
			}
		}
		return false
	}
	if err := c.Wait(ctx, func(st adsclient.State) bool {
		chains, policies := inboundChains(st)
		return len(chains) > 0 && !plaintext(chains) && slices.Contains(policies, wantPolicy)
	}); err != nil {
		t.Fatal(err)
	}
	f.apply(peerAuthentication("default", "", "PERMISSIVE"))
	if err := c.Wait(ctx, func(st adsclient.State) bool {
		chains, _ := inboundChains(st)
		return plaintext(chains)
	}); err != nil {
		t.Fatal(err)
	}
	if st := c.Snapshot(); len(st.Nacks) > 0 {
		t.Errorf("the sidecar rejected meshd's config: %v", st.Nacks)
	}
}
