package xds

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/translate"
)

// TestGatewayProxyGetsItsGateway: a gateway proxy (Istio's router node, labelled with
// its Gateway's name) gets that Gateway's listeners and routes, accepts them as Envoy
// would, and a sidecar of the same namespace does not get them.
func TestGatewayProxyGetsItsGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, eps := testutil.LoadSnapshot(t, "gatewaygen/testdata/ingress.in.yaml")
	out, _ := translate.Translate(snap)
	s := NewServer(logr.Discard())
	s.Update(out)
	s.UpdateEndpoints(eps)
	conn := serve(t, s)

	node := sidecarNode("web-istio-5d9c", "edge", map[string]any{
		"LABELS": map[string]any{"gateway.networking.k8s.io/gateway-name": "web"}})
	node.Id = "router~10.0.0.5~web-istio-5d9c.edge~edge.svc.cluster.local"
	gw, err := adsclient.Dial(ctx, conn, node)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0.0.0.0_443", "0.0.0.0_5432", "0.0.0.0_80", "0.0.0.0_8443"}
	if err := gw.Wait(ctx, func(st adsclient.State) bool {
		return len(st.Listeners) == len(want) && st.Routes["http.80"] != nil && st.Routes["https.443.https"] != nil &&
			st.Endpoints["outbound|8080||frontend.shop.svc.cluster.local"] != nil
	}); err != nil {
		t.Fatalf("gateway proxy config: %v", err)
	}
	st := gw.Snapshot()
	for _, n := range want {
		if st.Listeners[n] == nil {
			t.Errorf("listener %s missing: %s", n, st.Summary())
		}
	}
	if len(st.Nacks) > 0 {
		t.Errorf("the gateway proxy rejected its config: %v", st.Nacks)
	}

	side, err := adsclient.Dial(ctx, conn, sidecarNode("tools-1", "edge", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := side.Wait(ctx, func(st adsclient.State) bool { return st.Listeners["virtualInbound"] != nil }); err != nil {
		t.Fatal(err)
	}
	if side.Snapshot().Listeners["0.0.0.0_443"] != nil {
		t.Error("a sidecar got the gateway's HTTPS listener")
	}
}
