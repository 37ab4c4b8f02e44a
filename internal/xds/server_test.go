package xds

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/translate"
)

const (
	reviews  = "reviews.default.svc.cluster.local:9080"
	testData = "grpcgen/testdata/bookinfo-endpoints.in.yaml"
)

func startServer(t *testing.T) (*Server, discoveryv3.AggregatedDiscoveryServiceClient) {
	t.Helper()
	s, conn := startServerConn(t)
	return s, discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
}

func startServerConn(t *testing.T) (*Server, *grpc.ClientConn) {
	t.Helper()
	snap, eps := testutil.LoadSnapshot(t, testData)
	out, _ := translate.Translate(snap)
	s := NewServer(logr.Discard())
	s.Update(out)
	s.UpdateEndpoints(eps)
	return s, serve(t, s)
}

// serve runs s on a loopback port and returns a client connection to it.
func serve(t testing.TB, s *Server) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.Serve(ctx, l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func grpcNode(id string) *corev3.Node {
	return &corev3.Node{Id: id, Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
		"GENERATOR": structpb.NewStringValue("grpc"), "NAMESPACE": structpb.NewStringValue("default"),
	}}}
}

// TestDeltaXDS: an incremental (delta) ADS stream gets the subscribed route
// configuration, then only the changed resource after an update.
func TestDeltaXDS(t *testing.T) {
	s, ads := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: grpcNode("delta-client"), TypeUrl: resourcev3.RouteType,
		ResourceNamesSubscribe: []string{reviews}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].Name != reviews {
		t.Fatalf("first delta response: %v", resp.Resources)
	}
	first := resp.Resources[0].Version
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: resp.Nonce}); err != nil {
		t.Fatal(err)
	}

	// Change the split: the route configuration, and only it, comes again.
	snap, _ := testutil.LoadSnapshot(t, testData)
	snap.VirtualServices[0].Spec.HTTP[1].Route[0].Weight = 50
	snap.VirtualServices[0].Spec.HTTP[1].Route[1].Weight = 50
	out, _ := translate.Translate(snap)
	s.Update(out)
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].Version == first {
		t.Fatalf("update: %d resources, version %q (was %q)", len(resp.Resources), resp.Resources[0].GetVersion(), first)
	}
	var rc routev3.RouteConfiguration
	if err := resp.Resources[0].Resource.UnmarshalTo(&rc); err != nil {
		t.Fatal(err)
	}
	w := rc.VirtualHosts[0].Routes[1].GetRoute().GetWeightedClusters().GetClusters()
	if len(w) != 2 || w[0].Weight.GetValue() != 50 {
		t.Errorf("weights after the update: %v", w)
	}
}

// TestNackIsNotResent: a proxy that rejects a version is not sent it again and again
// (go-control-plane's snapshot cache would loop); it keeps its last good config, and
// the tracker records the NACK with the proxy's message.
func TestNackIsNotResent(t *testing.T) {
	s, ads := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: grpcNode("nack-client"), TypeUrl: resourcev3.ClusterType,
		ResourceNames: []string{"outbound|9080||reviews.default.svc.cluster.local"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: "",
		ResourceNames: []string{"outbound|9080||reviews.default.svc.cluster.local"},
		ResponseNonce: resp.Nonce, ErrorDetail: &status.Status{Code: 3, Message: "test rejects this cluster"}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	go func() {
		if _, err := stream.Recv(); err == nil {
			got <- struct{}{}
		}
	}()
	select {
	case <-got:
		t.Fatal("the server re-sent the rejected version")
	case <-time.After(500 * time.Millisecond):
	}
	var nacked bool
	for _, p := range s.Tracker().Proxies() {
		if p.NodeID == "nack-client" && p.Nacked[resourcev3.ClusterType].Message == "test rejects this cluster" {
			nacked = true
		}
	}
	if !nacked {
		t.Errorf("tracker did not record the NACK: %+v", s.Tracker().Proxies())
	}
}

// TestSidecarADS: an Envoy sidecar (no GENERATOR metadata; namespace from its node ID)
// subscribing as Envoy does gets valid listeners, the route configuration its HTTP
// listener names, clusters and endpoints; a change reaches it on the same stream.
func TestSidecarADS(t *testing.T) {
	s, conn := startServerConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := adsclient.Dial(ctx, conn, &corev3.Node{Id: "sidecar~10.1.0.5~productpage-1.default~default.svc.cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	split := func(want uint32) func(adsclient.State) bool {
		return func(st adsclient.State) bool {
			rc := st.Routes["9080"]
			if rc == nil || len(st.Endpoints) == 0 || st.Listeners["virtualOutbound"] == nil {
				return false
			}
			for _, vh := range rc.VirtualHosts {
				for _, r := range vh.Routes {
					if w := r.GetRoute().GetWeightedClusters().GetClusters(); len(w) == 2 && w[0].Weight.GetValue() == want {
						return true
					}
				}
			}
			return false
		}
	}
	if err := c.Wait(ctx, split(80)); err != nil {
		t.Fatal(err)
	}
	st := c.Snapshot()
	if len(st.Nacks) > 0 {
		t.Fatalf("sidecar rejected config: %v", st.Nacks)
	}
	cla := st.Endpoints["outbound|9080|v1|reviews.default.svc.cluster.local"]
	if n := len(cla.GetEndpoints()); n != 1 {
		t.Errorf("v1 subset endpoints: %d localities, want 1: %v", n, cla)
	}

	snap, _ := testutil.LoadSnapshot(t, testData)
	snap.VirtualServices[0].Spec.HTTP[1].Route[0].Weight = 50
	snap.VirtualServices[0].Spec.HTTP[1].Route[1].Weight = 50
	out, _ := translate.Translate(snap)
	s.Update(out)
	if err := c.Wait(ctx, split(50)); err != nil {
		t.Fatal(err)
	}
}

// TestScopeFollowsLabels: a sidecar's config depends on which client selectors its
// labels (node metadata LABELS) satisfy. When a VirtualService starts or stops
// selecting it by sourceLabels, its open stream moves to the new scope and gets the
// new config without reconnecting.
func TestScopeFollowsLabels(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(fmt.Sprintf("delta=%v", delta), func(t *testing.T) { scopeFollowsLabels(t, delta) })
	}
}

// mongoBySourceLabels loads a mesh whose "mongo" VirtualService sends clients with
// label app=<app> to a backup, and returns the IR for a given app, and the endpoints.
func mongoBySourceLabels(t *testing.T) (func(app string) *ir.IR, model.EndpointIndex) {
	snap, eps := testutil.LoadSnapshot(t, "sidecargen/testdata/tcp-tls-routes.in.yaml")
	return func(app string) *ir.IR {
		for _, vs := range snap.VirtualServices {
			if vs.Name == "mongo" {
				vs.Spec.TCP[1].Match[0].SourceLabels = map[string]string{"app": app}
			}
		}
		out, _ := translate.Translate(snap)
		return out
	}, eps
}

// scopeFollowsLabels runs TestScopeFollowsLabels over a state-of-the-world or an
// incremental stream (whose short version map must be spelled out when it moves).
func scopeFollowsLabels(t *testing.T, delta bool) {
	byLabels, eps := mongoBySourceLabels(t)
	s := NewServer(logr.Discard())
	s.Update(byLabels("someone-else"))
	s.UpdateEndpoints(eps)
	conn := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := &corev3.Node{Id: "sidecar~10.1.0.9~job-1.db~db.svc.cluster.local", Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
		"LABELS": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"app": structpb.NewStringValue("batch-job")}}),
	}}}
	var wait func(cond func(map[string]*listenerv3.Listener) bool) error
	var nacks func() int
	if delta {
		c, err := adsclient.DialDelta(ctx, conn, node, resourcev3.ListenerType)
		if err != nil {
			t.Fatal(err)
		}
		wait = func(cond func(map[string]*listenerv3.Listener) bool) error {
			return c.Wait(ctx, func(st adsclient.DeltaState) bool {
				ls := map[string]*listenerv3.Listener{}
				for n, a := range st.Resources[resourcev3.ListenerType] {
					l := &listenerv3.Listener{}
					if a.UnmarshalTo(l) == nil {
						ls[n] = l
					}
				}
				return cond(ls)
			})
		}
		nacks = func() int { return 0 } // the delta client does not NACK
	} else {
		c, err := adsclient.Dial(ctx, conn, node)
		if err != nil {
			t.Fatal(err)
		}
		wait = func(cond func(map[string]*listenerv3.Listener) bool) error {
			return c.Wait(ctx, func(st adsclient.State) bool { return cond(st.Listeners) })
		}
		nacks = func() int { return len(c.Snapshot().Nacks) }
	}
	target := func(want string) func(map[string]*listenerv3.Listener) bool {
		return func(ls map[string]*listenerv3.Listener) bool {
			l := ls["10.96.0.20_27017"]
			if l == nil {
				return false
			}
			// The catch-all chain: the default, or the only chain when there is no other.
			chain := l.GetDefaultFilterChain()
			if chain == nil && len(l.GetFilterChains()) == 1 {
				chain = l.GetFilterChains()[0]
			}
			var tp tcpproxyv3.TcpProxy
			_ = chain.GetFilters()[0].GetTypedConfig().UnmarshalTo(&tp)
			return tp.GetCluster() == want
		}
	}
	const primary, backup = "outbound|27017|primary|mongo.db.svc.cluster.local", "outbound|27017||mongo-backup.db.svc.cluster.local"
	for i, step := range []struct{ app, want string }{{"someone-else", primary}, {"batch-job", backup}, {"someone-else", primary}} {
		if i > 0 {
			s.Update(byLabels(step.app))
		}
		if err := wait(target(step.want)); err != nil {
			t.Fatalf("step %d (sourceLabels app=%s): %v", i, step.app, err)
		}
	}
	if n := nacks(); n > 0 {
		t.Errorf("%d NACKs", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.scopes {
		if k.Signature != "" {
			t.Errorf("scope %s outlived its proxies", k)
		}
	}
}
