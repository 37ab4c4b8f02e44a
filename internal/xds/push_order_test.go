package xds

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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

// TestMakeBeforeBreak: a route that moves to a service the scope did not import gets
// its cluster first, and the cluster goes only after the route moved away, as the xDS
// protocol asks (an Envoy answers 503 NC in between, grpc-go fails the call). An
// Envoy-like state-of-the-world stream and an incremental one both check, after every
// route or cluster response, that each route names a cluster they hold.
func TestMakeBeforeBreak(t *testing.T) {
	vs := func(host string, gen int64) *networkingv1.VirtualService {
		return &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop", Generation: gen, ResourceVersion: fmt.Sprint(gen)},
			Spec: networkingv1.VirtualServiceSpec{Hosts: []string{"reviews"}, HTTP: []networkingv1.HTTPRoute{{
				Route: []networkingv1.HTTPRouteDestination{{Destination: networkingv1.Destination{Host: host}}}}}}}
	}
	// The Sidecar imports shop alone: shadow's cluster is in the scope only while the
	// route names it.
	in := model.Inputs{Services: []*model.Service{httpService("shop", "reviews", "10.0.0.1"), httpService("other", "shadow", "10.0.0.2")},
		VirtualServices: []*networkingv1.VirtualService{vs("reviews", 1)},
		Sidecars:        []*networkingv1.Sidecar{namespaceSidecar("shop", networkingv1.SidecarSpec{Egress: []networkingv1.IstioEgressListener{{Hosts: []string{"./*"}}}})}}
	x := &translate.Incremental{}
	srv := NewServer(logr.Discard())
	out, _ := x.Translate(model.NewSnapshot(in))
	srv.Update(out)
	conn := serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sotw, err := adsclient.Dial(ctx, conn, &corev3.Node{Id: "sidecar~10.1.0.5~reviews-1.shop~shop.svc.cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	delta, err := adsclient.DialDelta(ctx, conn, &corev3.Node{Id: "sidecar~10.1.0.6~reviews-2.shop~shop.svc.cluster.local"},
		resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := srv.scopeFor(nodeInfo{Class: ClassSidecar, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	const shadow = "outbound|80||shadow.other.svc.cluster.local"
	// settled waits until both streams hold shadow's cluster or not, as want says, and
	// have ACKed everything: each watch is open again, so an update reaches them in
	// the order meshd makes it.
	settled := func(want bool) {
		t.Helper()
		if err := sotw.Wait(ctx, func(st adsclient.State) bool { return (st.Clusters[shadow] != nil) == want }); err != nil {
			t.Fatal(err)
		}
		if err := delta.Wait(ctx, func(st adsclient.DeltaState) bool {
			return (st.Resources[resourcev3.ClusterType][shadow] != nil) == want
		}); err != nil {
			t.Fatal(err)
		}
		// Four types on each of the two streams.
		testutil.Eventually(t, 10*time.Second, func() error {
			if n := srv.openWatches(sc); n != 8 {
				return fmt.Errorf("%d watches open, want 8", n)
			}
			return nil
		})
	}
	settled(false)
	for i := range 10 {
		gen := int64(2 + 2*i)
		in.VirtualServices = []*networkingv1.VirtualService{vs("shadow.other.svc.cluster.local", gen)}
		out, _ = x.Translate(model.NewSnapshot(in))
		srv.Update(out)
		settled(true)
		in.VirtualServices = []*networkingv1.VirtualService{vs("reviews", gen+1)}
		out, _ = x.Translate(model.NewSnapshot(in))
		srv.Update(out)
		settled(false)
	}
	if u := sotw.Snapshot().Unrouted; len(u) > 0 {
		t.Errorf("the state-of-the-world stream held routes to clusters it did not hold:\n%v", u)
	}
	if u := delta.Snapshot().Unrouted; len(u) > 0 {
		t.Errorf("the incremental stream held routes to clusters it did not hold:\n%v", u)
	}
	if st := sotw.Snapshot(); len(st.Nacks) > 0 {
		t.Errorf("NACKs: %v", st.Nacks)
	}
}
