package xds

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/translate"
)

// openWatches counts the watches open on the scope's caches, one per stream and type
// that has ACKed its last response and waits for the next change.
func (s *Server) openWatches(sc *scope) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range sc.caches {
		c.mu.Lock()
		seen := map[*cacheWatch]bool{}
		for w := range c.wildcard {
			seen[w] = true
		}
		for w := range c.broad {
			seen[w] = true
		}
		for _, ws := range c.named {
			for w := range ws {
				seen[w] = true
			}
		}
		n += len(seen)
		c.mu.Unlock()
	}
	return n
}

// orderFixture serves a sidecar scope of namespace shop, whose Sidecar imports shop
// alone, to an Envoy-like state-of-the-world stream and an incremental one; its route
// for reviews can be moved to shadow (other), whose cluster the scope then has only
// while the route names it.
type orderFixture struct {
	t     *testing.T
	ctx   context.Context
	srv   *Server
	x     *translate.Incremental
	in    model.Inputs
	gen   int64
	sc    *scope
	sotw  *adsclient.Client
	delta *adsclient.DeltaClient
}

const shadowCluster = "outbound|80||shadow.other.svc.cluster.local"

func newOrderFixture(t *testing.T) *orderFixture {
	f := &orderFixture{t: t, x: &translate.Incremental{}, srv: NewServer(logr.Discard()), gen: 1}
	f.in = model.Inputs{Services: []*model.Service{httpService("shop", "reviews", "10.0.0.1"), httpService("other", "shadow", "10.0.0.2")},
		Sidecars: []*networkingv1.Sidecar{namespaceSidecar("shop", networkingv1.SidecarSpec{Egress: []networkingv1.IstioEgressListener{{Hosts: []string{"./*"}}}})}}
	f.route("reviews")
	conn := serve(t, f.srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	f.ctx = ctx
	var err error
	if f.sotw, err = adsclient.Dial(ctx, conn, &corev3.Node{Id: "sidecar~10.1.0.5~reviews-1.shop~shop.svc.cluster.local"}); err != nil {
		t.Fatal(err)
	}
	if f.delta, err = adsclient.DialDelta(ctx, conn, &corev3.Node{Id: "sidecar~10.1.0.6~reviews-2.shop~shop.svc.cluster.local"},
		resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType); err != nil {
		t.Fatal(err)
	}
	if f.sc, err = f.srv.scopeFor(nodeInfo{Class: ClassSidecar, Namespace: "shop"}); err != nil {
		t.Fatal(err)
	}
	f.settled(false)
	return f
}

// update translates and publishes the inputs.
func (f *orderFixture) update() {
	out, _ := f.x.Translate(model.NewSnapshot(f.in))
	f.srv.Update(out)
}

// route points reviews' VirtualService at host (a new generation) and publishes it.
func (f *orderFixture) route(host string) {
	f.gen++
	f.in.VirtualServices = []*networkingv1.VirtualService{{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop", Generation: f.gen, ResourceVersion: fmt.Sprint(f.gen)},
		Spec: networkingv1.VirtualServiceSpec{Hosts: []string{"reviews"}, HTTP: []networkingv1.HTTPRoute{{
			Route: []networkingv1.HTTPRouteDestination{{Destination: networkingv1.Destination{Host: host}}}}}}}}
	f.update()
}

// addService adds a service to shop, which changes the scope's clusters and routes.
func (f *orderFixture) addService() {
	n := len(f.in.Services)
	f.in.Services = append(f.in.Services, httpService("shop", fmt.Sprintf("extra-%d", n), fmt.Sprintf("10.0.1.%d", n)))
	f.update()
}

// settled waits until both streams hold shadow's cluster or not, as want says, and
// have ACKed everything: each watch is open again.
func (f *orderFixture) settled(want bool) {
	f.t.Helper()
	if err := f.sotw.Wait(f.ctx, func(st adsclient.State) bool { return (st.Clusters[shadowCluster] != nil) == want }); err != nil {
		f.t.Fatal(err)
	}
	if err := f.delta.Wait(f.ctx, func(st adsclient.DeltaState) bool {
		return (st.Resources[resourcev3.ClusterType][shadowCluster] != nil) == want
	}); err != nil {
		f.t.Fatal(err)
	}
	// Four types on each of the two streams.
	testutil.Eventually(f.t, 10*time.Second, func() error {
		if n := f.srv.openWatches(f.sc); n != 8 {
			return fmt.Errorf("%d watches open, want 8", n)
		}
		return nil
	})
}

// TestMakeBeforeBreak: a route that moves to a service the scope did not import gets
// its cluster first, and the cluster goes only after the route moved away, as the xDS
// protocol asks (an Envoy answers 503 NC in between, grpc-go fails the call). An
// Envoy-like state-of-the-world stream and an incremental one both check, after every
// route or cluster response, that each route names a cluster they hold.
func TestMakeBeforeBreak(t *testing.T) {
	f := newOrderFixture(t)
	for range 10 {
		f.route("shadow.other.svc.cluster.local")
		f.settled(true)
		f.route("reviews")
		f.settled(false)
	}
	if u := f.sotw.Snapshot().Unrouted; len(u) > 0 {
		t.Errorf("the state-of-the-world stream held routes to clusters it did not hold:\n%v", u)
	}
	if u := f.delta.Snapshot().Unrouted; len(u) > 0 {
		t.Errorf("the incremental stream held routes to clusters it did not hold:\n%v", u)
	}
	if st := f.sotw.Snapshot(); len(st.Nacks) > 0 {
		t.Errorf("NACKs: %v", st.Nacks)
	}
}

// TestMakeBeforeBreakInBursts: passes that follow each other faster than a round trip
// (the streams have not ACKed the first pass's clusters and routes when the second
// comes) still reach an incremental stream make before break: its route to shadow
// never outlives shadow's cluster, nor comes before it. (Found by a review: the
// clusters' watch reopens first, on the first ACK.) State-of-the-world streams, served
// by go-control-plane's server, get each type's change as its ACK comes, as istiod's.
func TestMakeBeforeBreakInBursts(t *testing.T) {
	f := newOrderFixture(t)
	for range 10 {
		f.addService()
		f.route("shadow.other.svc.cluster.local")
		f.settled(true)
		f.addService()
		f.route("reviews")
		f.settled(false)
	}
	if u := f.delta.Snapshot().Unrouted; len(u) > 0 {
		t.Errorf("the incremental stream held routes to clusters it did not hold:\n%v", u)
	}
}

// TestHeldRemovalTakesLatestVersion: a removal held while routes were unacknowledged
// goes out under the version of the type's last response, not its own older one
// (found by a review: a later cluster response, sent and acknowledged meanwhile, left
// the held removal's ACK rolling the tracker back, so the proxy looked stale until the
// next cluster change).
func TestHeldRemovalTakesLatestVersion(t *testing.T) {
	o := newStreamOrder()
	var sent []*deltaResponse
	nonce := 0
	send := func(resp cachev3.DeltaResponse) error {
		r := resp.(*deltaResponse)
		sent = append(sent, r)
		nonce++
		o.sent(r.req.GetTypeUrl(), fmt.Sprint(nonce), r.version)
		return nil
	}
	req := func(typ string) *discoveryv3.DeltaDiscoveryRequest {
		return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ}
	}
	behind := func() bool { return false }
	// Pass A: routes move away from shadow, then shadow's cluster goes.
	if err := o.deliver(&deltaResponse{req: req(resourcev3.RouteType), version: "r1", entries: entries(resourcev3.RouteType, "80", "a")}, false, behind, send); err != nil {
		t.Fatal(err)
	}
	if err := o.deliver(&deltaResponse{req: req(resourcev3.ClusterType), version: "c1", removed: []string{"shadow"}}, false, behind, send); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || len(sent[1].removed) != 0 {
		t.Fatalf("the removal went out while the routes were unacknowledged: %+v", sent)
	}
	// The clusters' ACK, then pass B's clusters, sent and acknowledged.
	o.requested(resourcev3.ClusterType, "2")
	if err := o.deliver(&deltaResponse{req: req(resourcev3.ClusterType), version: "c2", entries: entries(resourcev3.ClusterType, "extra", "x")}, false, behind, send); err != nil {
		t.Fatal(err)
	}
	o.requested(resourcev3.ClusterType, "3")
	// The routes' ACK releases the removal, under c2.
	o.requested(resourcev3.RouteType, "1")
	if err := o.release(false, behind, send); err != nil {
		t.Fatal(err)
	}
	last := sent[len(sent)-1]
	if len(last.removed) != 1 || last.removed[0] != "shadow" || last.version != "c2" {
		t.Fatalf("released %+v, want shadow's removal under version c2", last)
	}
}
