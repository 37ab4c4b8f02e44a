package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// TestWaypointServesServicesThatUseIt: a namespace labelled istio.io/use-waypoint
// sends its Services' L7 config to its waypoint, and once the waypoint is for all
// traffic, traffic addressed to its pods too. A waypoint proxy (a raw ADS client
// with Istio's waypoint node ID, validating every resource as Envoy would) receives
// HBONE termination, a chain, routes and tunnelled clusters for each Service that uses
// it, with the AuthorizationPolicy that targets the Service, and none for a Service
// that opts out. Taking the label off the namespace takes the Services away again.
func TestWaypointServesServicesThatUseIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := newNamespace(t)
	setNamespaceLabels(t, ns, map[string]string{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"})
	waypoint := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "waypoint", Namespace: ns},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "istio-waypoint",
			Listeners: []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}}}
	if err := env.Client.Create(ctx, waypoint); err != nil {
		t.Fatal(err)
	}
	f := &meshFixture{t: t, ns: ns}
	f.apply(`
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  ports: [{name: http, port: 9080}]
`)
	f.apply(`
apiVersion: v1
kind: Service
metadata: {name: details, labels: {istio.io/use-waypoint: none}}
spec:
  ports: [{name: http, port: 9080}]
`)
	for _, svc := range []string{"reviews", "details"} {
		f.apply(fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: %s-callers}
spec:
  targetRefs: [{kind: Service, group: "", name: %s}]
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/%s/sa/productpage]}}]}]
`, svc, svc, ns))
	}
	gatewayCondition(t, ns, "waypoint", "Programmed", metav1.ConditionTrue, "Programmed")

	proxy := proxyNode(t, ctx, fmt.Sprintf("waypoint~10.1.0.9~waypoint-5d9f-x2.%s~%s.svc.cluster.local", ns, ns),
		map[string]string{"gateway.networking.k8s.io/gateway-name": "waypoint"})
	reviews := "inbound-vip|9080|http|reviews." + ns + ".svc.cluster.local"
	details := "inbound-vip|9080|http|details." + ns + ".svc.cluster.local"
	served := func(st adsclient.State) error {
		if st.Listeners["connect_terminate"] == nil || st.Listeners["connect_originate"] == nil {
			return fmt.Errorf("no HBONE listeners: %s", st.Summary())
		}
		chain := chainNamed(st.Listeners["main_internal"], reviews)
		switch {
		case chain == nil:
			return fmt.Errorf("main_internal has no chain %s: %s", reviews, st.Summary())
		case chainNamed(st.Listeners["main_internal"], details) != nil:
			return fmt.Errorf("details opted out of the waypoint but has a chain")
		case st.Routes[reviews] == nil || st.Clusters[reviews] == nil:
			return fmt.Errorf("chain %s has no route configuration or cluster: %s", reviews, st.Summary())
		case !strings.Contains(chain.String(), "policy[reviews-callers]"):
			return fmt.Errorf("chain %s does not enforce reviews-callers", reviews)
		case len(st.Nacks) > 0:
			return fmt.Errorf("the waypoint rejected config: %v", st.Nacks)
		}
		return nil
	}
	if err := waitForState(ctx, proxy, served); err != nil {
		t.Fatal(err)
	}

	gvk := securityv1.GroupVersion.WithKind("AuthorizationPolicy")
	for name, want := range map[string]string{"reviews-callers": "at waypoint " + ns + "/waypoint", "details-callers": "use no waypoint"} {
		testutil.Eventually(t, 30*time.Second, func() error {
			c := condition(t, gvk, ns, name, "WorkloadsSelected")
			if c == nil || !strings.Contains(c.Message, want) {
				return fmt.Errorf("policy %s: WorkloadsSelected is %+v, want a message with %q", name, c, want)
			}
			return nil
		})
	}

	// A waypoint for all traffic also takes traffic addressed to the namespace's pods.
	gw := &gatewayv1.Gateway{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "waypoint"}, gw); err != nil {
		t.Fatal(err)
	}
	gw.Labels = map[string]string{"istio.io/waypoint-for": "all"}
	if err := env.Client.Update(ctx, gw); err != nil {
		t.Fatal(err)
	}
	runningPod(t, ns, "reviews-0", "10.3.0.7")
	if err := waitForState(ctx, proxy, func(st adsclient.State) error {
		direct := chainNamed(st.Listeners["main_internal"], "direct-tcp")
		switch {
		case direct == nil || !strings.Contains(direct.GetFilterChainMatch().String(), "10.3.0.7"):
			return fmt.Errorf("no direct chain for the pod 10.3.0.7: %v", direct.GetFilterChainMatch())
		case st.Clusters["encap"] == nil:
			return fmt.Errorf("no encap cluster: %s", st.Summary())
		case len(st.Nacks) > 0:
			return fmt.Errorf("the waypoint rejected config: %v", st.Nacks)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	setNamespaceLabels(t, ns, map[string]string{"istio.io/use-waypoint": ""})
	if err := waitForState(ctx, proxy, func(st adsclient.State) error {
		if st.Listeners["main_internal"] != nil || st.Clusters[reviews] != nil {
			return fmt.Errorf("reviews no longer uses the waypoint but is still served: %s", st.Summary())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// waitForState waits until check passes on the proxy's state, returning its last error.
func waitForState(ctx context.Context, c *adsclient.Client, check func(adsclient.State) error) error {
	var last error
	err := c.Wait(ctx, func(st adsclient.State) bool {
		last = check(st)
		return last == nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w: %v", err, last)
	}
	return err
}

func chainNamed(l *listenerv3.Listener, name string) *listenerv3.FilterChain {
	for _, c := range l.GetFilterChains() {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}
