package grpcxds_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

const (
	fqdn   = "reviews.default.svc.cluster.local"
	port   = 9080
	target = "xds:///reviews.default.svc.cluster.local:9080"
)

var hostPort = fmt.Sprintf("%s:%d", fqdn, port)

// ---------------------------------------------------------------------------
// A minimal go-control-plane xDS server, recording ACKs and NACKs.

type ackEvent struct {
	node, typeURL, version string
	nack                   string
	at                     time.Time
}

type controlPlane struct {
	addr  string
	cache cache.SnapshotCache

	streams atomic.Int64
	mu      sync.Mutex
	events  []ackEvent
	notify  chan struct{}
}

func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	cp := &controlPlane{
		// ads=false: with true the cache waits for requests naming every
		// resource, which gRPC never sends.
		cache:  cache.NewSnapshotCache(false, cache.IDHash{}, nil),
		notify: make(chan struct{}),
	}
	cb := server.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error { cp.streams.Add(1); return nil },
		StreamRequestFunc: func(_ int64, req *discoverygrpc.DiscoveryRequest) error {
			if req.GetResponseNonce() == "" {
				return nil // initial request, not an ACK/NACK
			}
			ev := ackEvent{node: req.GetNode().GetId(), typeURL: req.GetTypeUrl(), version: req.GetVersionInfo(), at: time.Now()}
			if d := req.GetErrorDetail(); d != nil {
				ev.nack = d.GetMessage()
				t.Logf("NACK from %s for %s: %s", ev.node, ev.typeURL, ev.nack)
			}
			cp.mu.Lock()
			cp.events = append(cp.events, ev)
			close(cp.notify)
			cp.notify = make(chan struct{})
			cp.mu.Unlock()
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := server.NewServer(ctx, cp.cache, cb)
	gs := grpc.NewServer()
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, srv)
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, srv)
	routeservice.RegisterRouteDiscoveryServiceServer(gs, srv)
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, srv)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp.addr = lis.Addr().String()
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); cancel() })
	return cp
}

// set publishes a snapshot for node. Snapshot.Consistent() is not called: it
// misreports api_listener routes.
func (cp *controlPlane) set(t *testing.T, node, version string, res ...types.Resource) {
	t.Helper()
	m := map[resource.Type][]types.Resource{}
	for _, r := range res {
		var typ string
		switch r.(type) {
		case *listenerv3.Listener:
			typ = resource.ListenerType
		case *routev3.RouteConfiguration:
			typ = resource.RouteType
		case *clusterv3.Cluster:
			typ = resource.ClusterType
		case *endpointv3.ClusterLoadAssignment:
			typ = resource.EndpointType
		default:
			t.Fatalf("unexpected resource %T", r)
		}
		m[typ] = append(m[typ], r)
	}
	snap, err := cache.NewSnapshot(version, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.cache.SetSnapshot(context.Background(), node, snap); err != nil {
		t.Fatal(err)
	}
}

// waitAck waits for node to ACK version of typeURL and returns when it did.
// It fails the test on a NACK of that version.
func (cp *controlPlane) waitAck(t *testing.T, ctx context.Context, node, typeURL, version string) time.Time {
	t.Helper()
	for {
		cp.mu.Lock()
		ch := cp.notify
		for _, ev := range cp.events {
			if ev.node == node && ev.typeURL == typeURL && ev.version == version {
				cp.mu.Unlock()
				if ev.nack != "" {
					t.Fatalf("NACK of %s version %s: %s", typeURL, version, ev.nack)
				}
				return ev.at
			}
		}
		cp.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no ACK of %s version %s from %s", typeURL, version, node)
		}
	}
}

func (cp *controlPlane) nacks() []ackEvent {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []ackEvent
	for _, ev := range cp.events {
		if ev.nack != "" {
			out = append(out, ev)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Resource builders (what a proxyless-gRPC generator has to produce).

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func routerFilter(t *testing.T) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}
}

// clientListener is the api_listener for target: name = "<fqdn>:<port>",
// RDS over ADS with the same name; the router filter last.
func clientListener(t *testing.T, name string, filters ...*hcmv3.HttpFilter) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: adsSource(), RouteConfigName: name}},
		HttpFilters:    append(filters, routerFilter(t)),
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(t, hcm)}}
}

// routeConfig has one virtual host whose domain is the channel authority
// ("<fqdn>:<port>", what grpc-go matches; wildcards also work).
func routeConfig(name string, routes ...*routev3.Route) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{
		Name: name, Domains: []string{hostPort}, Routes: routes,
	}}}
}

func weighted(match *routev3.RouteMatch, weights map[string]uint32) *routev3.Route {
	var names []string
	for n := range weights {
		names = append(names, n)
	}
	sort.Strings(names)
	var wcs []*routev3.WeightedCluster_ClusterWeight
	for _, n := range names {
		wcs = append(wcs, &routev3.WeightedCluster_ClusterWeight{Name: n, Weight: wrapperspb.UInt32(weights[n])})
	}
	return &routev3.Route{Match: match, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: wcs}},
	}}}
}

func toCluster(match *routev3.RouteMatch, cluster string, mod func(*routev3.RouteAction)) *routev3.Route {
	ra := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}
	if mod != nil {
		mod(ra)
	}
	return &routev3.Route{Match: match, Action: &routev3.Route_Route{Route: ra}}
}

func prefix(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func headerIs(name, value string) *routev3.RouteMatch {
	m := prefix("/")
	m.Headers = []*routev3.HeaderMatcher{{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: value}}}
	return m
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: name},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		ConnectTimeout:       durationpb.New(time.Second),
	}
}

// cla puts the backends in one locality, which has a Locality and a non-zero
// load_balancing_weight (grpc-go drops weightless localities).
func cla(name string, backends ...*grpcxds.Backend) *endpointv3.ClusterLoadAssignment {
	var eps []*endpointv3.LbEndpoint
	for _, b := range backends {
		eps = append(eps, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: b.Host(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: b.Port()},
			}}},
		}}})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		Locality:            &corev3.Locality{Region: "r", Zone: "z"},
		LoadBalancingWeight: wrapperspb.UInt32(1),
		LbEndpoints:         eps,
	}}}
}

func clientConfig(cp *controlPlane, pod string) grpcxds.XDSConfig {
	return grpcxds.XDSConfig{
		ServerAddr: cp.addr,
		NodeID:     grpcxds.NodeID("127.0.0.1", pod, "default"),
		Metadata:   map[string]string{"GENERATOR": "grpc", "NAMESPACE": "default"},
		Target:     target,
	}
}

func waitFirstCall(t *testing.T, ctx context.Context, c *grpcxds.Client) {
	t.Helper()
	start := time.Now()
	if _, _, err := c.Call(ctx, nil, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("first call: %v", err)
	}
	t.Logf("first call (bootstrap -> LDS/RDS/CDS/EDS -> connect) took %v", time.Since(start).Round(time.Microsecond))
}

const (
	v1 = "outbound|9080|v1|reviews.default.svc.cluster.local"
	v2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
)

// ---------------------------------------------------------------------------

// TestWeightedClustersFollowUpdates is the proof that the harness works: an
// 80/20 weighted route is honoured over real RPCs, and the same client
// follows updates to 50/50 and then 100/0 <-> 0/100 flips on its one ADS
// stream, without reconnecting.
func TestWeightedClustersFollowUpdates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cp := startControlPlane(t)
	b1 := grpcxds.StartBackend(t, "v1")
	b2 := grpcxds.StartBackend(t, "v2")
	cfg := clientConfig(cp, "client-0")

	snapshot := func(version string, w1, w2 uint32) {
		cp.set(t, cfg.NodeID, version,
			clientListener(t, hostPort),
			routeConfig(hostPort, weighted(prefix("/"), map[string]uint32{v1: w1, v2: w2})),
			edsCluster(v1), edsCluster(v2),
			cla(v1, b1), cla(v2, b2))
	}
	snapshotRoute := func(version, cluster string) {
		cp.set(t, cfg.NodeID, version,
			clientListener(t, hostPort),
			routeConfig(hostPort, weighted(prefix("/"), map[string]uint32{cluster: 100})),
			edsCluster(v1), edsCluster(v2),
			cla(v1, b1), cla(v2, b2))
	}
	snapshot("1", 80, 20)

	c := grpcxds.NewClient(t, cfg)
	waitFirstCall(t, ctx, c)

	const n = 1000
	start := time.Now()
	got := c.Spread(ctx, n, nil)
	t.Logf("80/20: %v in %v", got, time.Since(start).Round(time.Millisecond))
	assertShare(t, got, n, "v1", 0.80, 0.06)
	assertShare(t, got, n, "v2", 0.20, 0.06)

	// 80/20 -> 50/50 on the same Client. The update is invisible on a single
	// RPC, so its latency is measured to the client's ACK of the new
	// RouteConfiguration (grpc-go ACKs after its watchers have processed the
	// resource), then the new split is checked by traffic.
	updated := time.Now()
	snapshot("2", 50, 50)
	acked := cp.waitAck(t, ctx, cfg.NodeID, resource.RouteType, "2")
	t.Logf("80/20 -> 50/50: RDS ACK %v after SetSnapshot", acked.Sub(updated).Round(time.Microsecond))
	got = c.Spread(ctx, n, nil)
	t.Logf("50/50: %v", got)
	assertShare(t, got, n, "v1", 0.50, 0.06)
	assertShare(t, got, n, "v2", 0.50, 0.06)

	// Route flips between 100% v1 and 100% v2 (both clusters stay in CDS, so
	// only the RouteConfiguration changes, as with a weight change), observed
	// per RPC: time from SetSnapshot to the first call landing on the new
	// cluster.
	snapshotRoute("3", v1) // start from 100% v1, untimed
	if _, _, err := c.WaitFor(ctx, 20, nil, func(m map[string]int) bool { return m["v1"] == 20 }); err != nil {
		t.Fatal(err)
	}
	var byTraffic, byAck []time.Duration
	for i := 0; i < 10; i++ {
		to, toName := v2, "v2"
		if i%2 == 1 {
			to, toName = v1, "v1"
		}
		version := fmt.Sprint(4 + i)
		updated := time.Now()
		snapshotRoute(version, to)
		_, took, err := c.WaitFor(ctx, 1, nil, func(m map[string]int) bool { return m[toName] == 1 })
		if err != nil {
			t.Fatal(err)
		}
		byTraffic = append(byTraffic, took)
		byAck = append(byAck, cp.waitAck(t, ctx, cfg.NodeID, resource.RouteType, version).Sub(updated))
		if got := c.Spread(ctx, 20, nil); got[toName] != 20 {
			t.Fatalf("after flip to %s: %v", toName, got)
		}
	}
	t.Logf("route flips, SetSnapshot -> first RPC on the new cluster: %s", durStats(byTraffic))
	t.Logf("route flips, SetSnapshot -> RDS ACK received: %s", durStats(byAck))

	if s := cp.streams.Load(); s != 1 {
		t.Errorf("ADS streams opened = %d, want 1 (the client must not reconnect)", s)
	}
	if nk := cp.nacks(); len(nk) > 0 {
		t.Errorf("NACKs: %+v", nk)
	}
}

// TestPerClientBootstrap proves several clients in one process each have
// their own bootstrap: different xDS servers, different node IDs.
func TestPerClientBootstrap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cpA, cpB := startControlPlane(t), startControlPlane(t)
	b1 := grpcxds.StartBackend(t, "v1")
	b2 := grpcxds.StartBackend(t, "v2")
	publish := func(cp *controlPlane, node, cluster string, b *grpcxds.Backend) {
		cp.set(t, node, "1", clientListener(t, hostPort),
			routeConfig(hostPort, toCluster(prefix("/"), cluster, nil)),
			edsCluster(cluster), cla(cluster, b))
	}
	a1, a2, bc := clientConfig(cpA, "a-1"), clientConfig(cpA, "a-2"), clientConfig(cpB, "b-1")
	publish(cpA, a1.NodeID, v1, b1)
	publish(cpA, a2.NodeID, v2, b2)
	publish(cpB, bc.NodeID, v2, b2)
	for _, tc := range []struct {
		cfg  grpcxds.XDSConfig
		want string
	}{{a1, "v1"}, {a2, "v2"}, {bc, "v2"}} {
		c := grpcxds.NewClient(t, tc.cfg)
		waitFirstCall(t, ctx, c)
		if got := c.Spread(ctx, 20, nil); got[tc.want] != 20 {
			t.Errorf("client %s: %v, want all on %s", tc.cfg.NodeID, got, tc.want)
		}
	}
	if cpA.streams.Load() != 2 || cpB.streams.Load() != 1 {
		t.Errorf("ADS streams: A=%d B=%d, want 2 and 1", cpA.streams.Load(), cpB.streams.Load())
	}
}

// TestRouteFeatures checks, by traffic, the claims of the package doc about
// route fields grpc-go honours and ignores.
func TestRouteFeatures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cp := startControlPlane(t)
	b1 := grpcxds.StartBackend(t, "v1")
	b2 := grpcxds.StartBackend(t, "v2")
	cfg := clientConfig(cp, "client-0")

	abort := &faultv3.HTTPFault{Abort: &faultv3.FaultAbort{
		ErrorType:  &faultv3.FaultAbort_GrpcStatus{GrpcStatus: uint32(codes.ResourceExhausted)},
		Percentage: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED},
	}}
	faultFilter := &hcmv3.HttpFilter{Name: "envoy.filters.http.fault", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &faultv3.HTTPFault{})}}
	withFault := toCluster(headerIs("x-test", "fault"), v1, nil)
	withFault.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.fault": mustAny(t, abort)}
	hdrAdd := toCluster(headerIs("x-test", "headers"), v1, nil)
	hdrAdd.RequestHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-added", Value: "1"}}}
	emptyCall := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: grpcxds.MethodEmptyCall}}

	cp.set(t, cfg.NodeID, "1",
		clientListener(t, hostPort, faultFilter),
		routeConfig(hostPort,
			toCluster(headerIs("x-test", "retry"), v1, func(ra *routev3.RouteAction) {
				ra.RetryPolicy = &routev3.RetryPolicy{RetryOn: "unavailable", NumRetries: wrapperspb.UInt32(3)}
			}),
			toCluster(headerIs("x-test", "retry-5xx"), v1, func(ra *routev3.RouteAction) {
				ra.RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx,connect-failure", NumRetries: wrapperspb.UInt32(3)}
			}),
			toCluster(headerIs("x-test", "max-stream-duration"), v1, func(ra *routev3.RouteAction) {
				ra.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: durationpb.New(100 * time.Millisecond)}
			}),
			toCluster(headerIs("x-test", "route-timeout"), v1, func(ra *routev3.RouteAction) {
				ra.Timeout = durationpb.New(100 * time.Millisecond)
			}),
			withFault,
			hdrAdd,
			toCluster(emptyCall, v2, nil),
			toCluster(prefix("/"), v1, nil),
		),
		edsCluster(v1), edsCluster(v2), cla(v1, b1), cla(v2, b2))

	c := grpcxds.NewClient(t, cfg)
	waitFirstCall(t, ctx, c)
	md := func(v string) metadata.MD { return metadata.Pairs("x-test", v) }

	t.Run("path match", func(t *testing.T) {
		if got, _, err := c.EmptyCall(ctx, nil); err != nil || got != "v2" {
			t.Errorf("EmptyCall -> %q, %v; want v2", got, err)
		}
	})
	t.Run("retry_policy unavailable honoured", func(t *testing.T) {
		b1.ResetCalls()
		b1.SetFailures(2, codes.Unavailable)
		defer b1.SetHealthy()
		got, _, err := c.Call(ctx, md("retry"))
		if err != nil || got != "v1" || b1.Calls() != 3 {
			t.Errorf("retry: %q, %v, backend calls %d; want success after 3 attempts", got, err, b1.Calls())
		}
	})
	t.Run("retry_on 5xx ignored", func(t *testing.T) {
		b1.ResetCalls()
		b1.SetFailures(1, codes.Unavailable)
		defer b1.SetHealthy()
		_, _, err := c.Call(ctx, md("retry-5xx"))
		if status.Code(err) != codes.Unavailable || b1.Calls() != 1 {
			t.Errorf("retry-5xx: %v, backend calls %d; want Unavailable after 1 attempt", err, b1.Calls())
		}
	})
	t.Run("max_stream_duration honoured", func(t *testing.T) {
		b1.SetDelay(time.Second)
		defer b1.SetHealthy()
		start := time.Now()
		_, _, err := c.Call(ctx, md("max-stream-duration"))
		if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 900*time.Millisecond {
			t.Errorf("max_stream_duration: %v after %v; want DeadlineExceeded after ~100ms", err, time.Since(start))
		}
	})
	t.Run("route timeout ignored", func(t *testing.T) {
		b1.SetDelay(300 * time.Millisecond)
		defer b1.SetHealthy()
		if _, _, err := c.Call(ctx, md("route-timeout")); err != nil {
			t.Errorf("route timeout: %v; want success (grpc-go ignores RouteAction.timeout)", err)
		}
	})
	t.Run("fault abort honoured", func(t *testing.T) {
		b1.ResetCalls()
		_, _, err := c.Call(ctx, md("fault"))
		if status.Code(err) != codes.ResourceExhausted || b1.Calls() != 0 {
			t.Errorf("fault: %v, backend calls %d; want ResourceExhausted before reaching the backend", err, b1.Calls())
		}
		if _, _, err := c.Call(ctx, nil); err != nil {
			t.Errorf("default route with fault filter but no override: %v", err)
		}
	})
	t.Run("request_headers_to_add ignored, metadata echoed", func(t *testing.T) {
		_, hdr, err := c.Call(ctx, md("headers"))
		if err != nil {
			t.Fatal(err)
		}
		if v := hdr.Get(grpcxds.EchoPrefix + "x-test"); len(v) != 1 || v[0] != "headers" {
			t.Errorf("echo of x-test = %v", v)
		}
		if v := hdr.Get(grpcxds.EchoPrefix + "authority"); len(v) != 1 || v[0] != hostPort {
			t.Errorf("echo of :authority = %v, want %s", v, hostPort)
		}
		if v := hdr.Get(grpcxds.EchoPrefix + "x-added"); len(v) != 0 {
			t.Errorf("x-added reached the backend: %v", v)
		}
	})
	if nk := cp.nacks(); len(nk) > 0 {
		t.Errorf("NACKs: %+v", nk)
	}
}

// TestOutlierDetection ejects a failing endpoint with failure-percentage
// ejection (the consecutive_* fields are ignored by grpc-go).
func TestOutlierDetection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cp := startControlPlane(t)
	good := grpcxds.StartBackend(t, "good")
	bad := grpcxds.StartBackend(t, "bad")
	cfg := clientConfig(cp, "client-0")
	cl := edsCluster(v1)
	cl.OutlierDetection = &clusterv3.OutlierDetection{
		Interval:                       durationpb.New(100 * time.Millisecond),
		BaseEjectionTime:               durationpb.New(30 * time.Second),
		MaxEjectionPercent:             wrapperspb.UInt32(50),
		EnforcingSuccessRate:           wrapperspb.UInt32(0),
		EnforcingFailurePercentage:     wrapperspb.UInt32(100),
		FailurePercentageThreshold:     wrapperspb.UInt32(50),
		FailurePercentageMinimumHosts:  wrapperspb.UInt32(2),
		FailurePercentageRequestVolume: wrapperspb.UInt32(10),
	}
	cp.set(t, cfg.NodeID, "1", clientListener(t, hostPort),
		routeConfig(hostPort, toCluster(prefix("/"), v1, nil)), cl, cla(v1, good, bad))
	c := grpcxds.NewClient(t, cfg)
	waitFirstCall(t, ctx, c)

	bad.SetFailAll(codes.Unavailable)
	got, took, err := c.WaitFor(ctx, 20, nil, func(m map[string]int) bool { return m["good"] == 20 })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failing endpoint ejected within %v (%v)", took.Round(time.Millisecond), got)
}

// TestXDSServerRBAC runs a proxyless xDS server backend (WithXDSServer) whose
// inbound Listener carries an RBAC filter.
func TestXDSServerRBAC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cp := startControlPlane(t)
	srvCfg := clientConfig(cp, "server-0")
	srvCfg.Target = ""
	b := grpcxds.StartBackend(t, "secure", grpcxds.WithXDSServer(srvCfg))

	rbac := &rbacfilterv3.RBAC{Rules: &rbacv3.RBAC{
		Action: rbacv3.RBAC_DENY,
		Policies: map[string]*rbacv3.Policy{"deny-x-deny": {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
			Principals: []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Header{Header: &routev3.HeaderMatcher{
				Name: "x-deny", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true},
			}}}},
		}},
	}}
	inboundHCM := &hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "inbound", VirtualHosts: []*routev3.VirtualHost{{Name: "inbound", Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match:  prefix("/"),
				Action: &routev3.Route_NonForwardingAction{NonForwardingAction: &routev3.NonForwardingAction{}},
			}}}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: "envoy.filters.http.rbac", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, rbac)}},
			routerFilter(t),
		},
	}
	inbound := &listenerv3.Listener{
		Name: fmt.Sprintf(grpcxds.IstioServerListenerTemplate, b.Addr()),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: b.Host(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: b.Port()},
		}}},
		FilterChains: []*listenerv3.FilterChain{{
			Name:    "inbound",
			Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, inboundHCM)}}},
		}},
	}
	cp.set(t, srvCfg.NodeID, "1", inbound)
	if err := b.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := clientConfig(cp, "client-0")
	cp.set(t, cfg.NodeID, "1", clientListener(t, hostPort),
		routeConfig(hostPort, toCluster(prefix("/"), v1, nil)), edsCluster(v1), cla(v1, b))
	c := grpcxds.NewClient(t, cfg)
	waitFirstCall(t, ctx, c)
	if got, _, err := c.Call(ctx, nil); err != nil || got != "secure" {
		t.Errorf("allowed call: %q, %v", got, err)
	}
	if _, _, err := c.Call(ctx, metadata.Pairs("x-deny", "1")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("denied call: %v, want PermissionDenied", err)
	}
	if nk := cp.nacks(); len(nk) > 0 {
		t.Errorf("NACKs: %+v", nk)
	}
}

func durStats(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("n=%d min=%v p50=%v max=%v", len(s), s[0].Round(time.Microsecond), s[len(s)/2].Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
}

func assertShare(t *testing.T, counts map[string]int, n int, key string, want, tol float64) {
	t.Helper()
	got := float64(counts[key]) / float64(n)
	if got < want-tol || got > want+tol {
		t.Errorf("share of %s = %.3f, want %.2f±%.2f (counts %v)", key, got, want, tol, counts)
	}
}
