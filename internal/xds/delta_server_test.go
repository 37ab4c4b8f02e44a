package xds

import (
	"context"
	"slices"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// deltaExchange opens an incremental stream, sends req and returns the first response.
func deltaExchange(t *testing.T, ads discoveryv3.AggregatedDiscoveryServiceClient, req *discoveryv3.DeltaDiscoveryRequest) (discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, *discoveryv3.DeltaDiscoveryResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	st, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return st, resp
}

func resourceNames(resp *discoveryv3.DeltaDiscoveryResponse) []string {
	var names []string
	for _, r := range resp.GetResources() {
		names = append(names, r.GetName())
	}
	slices.Sort(names)
	return names
}

// A proxy that reconnects says what it holds (initial_resource_versions): it is sent
// what changed or it lacks, and told what is gone, not everything again.
func TestDeltaReconnectWithHeldVersions(t *testing.T) {
	_, ads := startServer(t)
	reviews, subset := "outbound|9080||reviews.default.svc.cluster.local", "outbound|9080|v1|reviews.default.svc.cluster.local"
	_, first := deltaExchange(t, ads, &discoveryv3.DeltaDiscoveryRequest{Node: grpcNode("reconnecting"), TypeUrl: resourcev3.ClusterType,
		ResourceNamesSubscribe: []string{reviews, subset}})
	if got := resourceNames(first); !slices.Equal(got, []string{subset, reviews}) {
		t.Fatalf("first response: %v", got)
	}
	held := map[string]string{"outbound|9080||gone.default.svc.cluster.local": "1"}
	for _, r := range first.GetResources() {
		held[r.GetName()] = r.GetVersion()
	}
	held[subset] = "stale"
	_, again := deltaExchange(t, ads, &discoveryv3.DeltaDiscoveryRequest{Node: grpcNode("reconnecting"), TypeUrl: resourcev3.ClusterType,
		ResourceNamesSubscribe: []string{reviews, subset, "outbound|9080||gone.default.svc.cluster.local"}, InitialResourceVersions: held})
	if got := resourceNames(again); !slices.Equal(got, []string{subset}) {
		t.Errorf("after reconnecting: sent %v, want only the stale %s", got, subset)
	}
	if got := again.GetRemovedResources(); !slices.Equal(got, []string{"outbound|9080||gone.default.svc.cluster.local"}) {
		t.Errorf("after reconnecting: removed %v, want the cluster that no longer exists", got)
	}
}

// ADS requests name their type; a stream that does not is ended with InvalidArgument.
func TestDeltaRequiresTypeURL(t *testing.T) {
	_, ads := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: grpcNode("typeless")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a request without a type URL: %v, want InvalidArgument", err)
	}
}

// A first request naming nothing subscribes to every resource of its type (the legacy
// wildcard Envoy uses for listeners and clusters), and a later update reaches it.
func TestDeltaWildcardStream(t *testing.T) {
	s, ads := startServer(t)
	_, first := deltaExchange(t, ads, &discoveryv3.DeltaDiscoveryRequest{Node: grpcNode("wildcard"), TypeUrl: resourcev3.ClusterType})
	s.mu.Lock()
	var want []string
	for _, sc := range s.scopes {
		if sc.key.Class == ClassGRPC {
			want = sc.caches[resourcev3.ClusterType].names()
		}
	}
	s.mu.Unlock()
	slices.Sort(want)
	if got := resourceNames(first); len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("wildcard stream was sent %v, want every cluster of its scope %v", got, want)
	}
}
