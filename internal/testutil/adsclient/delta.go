package adsclient

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

// DeltaClient is one incremental (delta) ADS stream subscribed by wildcard to some
// types, as ztunnel subscribes: it applies each response's resources and removals and
// ACKs it. Resources are kept as sent (Any); callers decode the types they know.
type DeltaClient struct {
	stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sendMu sync.Mutex

	mu      sync.Mutex
	state   DeltaState
	changed chan struct{} // closed and replaced on every response
	err     error
}

// DeltaState is what a DeltaClient holds.
type DeltaState struct {
	// Resources by type URL, then name.
	Resources map[string]map[string]*anypb.Any
	// Received and Removed count, per type URL, the resources and the removals the
	// server sent; Acks the responses the client acknowledged.
	Received, Removed map[string]int
	Acks              map[string]int
	// Unrouted records each moment a held route named a cluster the client did not
	// hold (see unrouted), with the response that left it so.
	Unrouted []string
}

// DialDelta opens a delta ADS stream on conn for node and subscribes by wildcard to
// each of typeURLs. The stream ends with ctx.
func DialDelta(ctx context.Context, conn grpc.ClientConnInterface, node *corev3.Node, typeURLs ...string) (*DeltaClient, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	c := &DeltaClient{stream: stream, changed: make(chan struct{}), state: DeltaState{
		Resources: map[string]map[string]*anypb.Any{}, Received: map[string]int{}, Removed: map[string]int{}, Acks: map[string]int{}}}
	for i, t := range typeURLs {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}
		if i == 0 {
			req.Node = node
		}
		if err := c.send(req); err != nil {
			return nil, err
		}
	}
	go c.run()
	return c, nil
}

func (c *DeltaClient) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(req)
}

func (c *DeltaClient) run() {
	for {
		resp, err := c.stream.Recv()
		c.mu.Lock()
		if err != nil {
			c.err = err
		} else {
			t := resp.GetTypeUrl()
			held := c.state.Resources[t]
			if held == nil {
				held = map[string]*anypb.Any{}
				c.state.Resources[t] = held
			}
			for _, r := range resp.GetResources() {
				held[r.GetName()] = r.GetResource()
				c.state.Received[t]++
			}
			for _, n := range resp.GetRemovedResources() {
				delete(held, n)
				c.state.Removed[t]++
			}
			if t == resourcev3.RouteType || t == resourcev3.ClusterType {
				c.checkRoutes(resp.GetNonce())
			}
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
		if err := c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.state.Acks[resp.GetTypeUrl()]++
		// Waiters on the ACK count are woken too, not only those on what it holds.
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// checkRoutes records the routes held that name a cluster not held, after the response
// of nonce. Callers hold c.mu.
func (c *DeltaClient) checkRoutes(nonce string) {
	routes := map[string]*routev3.RouteConfiguration{}
	for n, a := range c.state.Resources[resourcev3.RouteType] {
		rc := &routev3.RouteConfiguration{}
		if err := a.UnmarshalTo(rc); err != nil {
			c.state.Unrouted = append(c.state.Unrouted, fmt.Sprintf("route configuration %s: %v", n, err))
			continue
		}
		routes[n] = rc
	}
	clusters := c.state.Resources[resourcev3.ClusterType]
	for _, u := range unrouted(routes, func(n string) bool { return clusters[n] != nil }) {
		c.state.Unrouted = append(c.state.Unrouted, "after the response of nonce "+nonce+": "+u)
	}
}

// Snapshot returns a copy of what the client holds.
func (c *DeltaClient) Snapshot() DeltaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := DeltaState{Resources: make(map[string]map[string]*anypb.Any, len(c.state.Resources)),
		Received: maps.Clone(c.state.Received), Removed: maps.Clone(c.state.Removed), Acks: maps.Clone(c.state.Acks),
		Unrouted: slices.Clone(c.state.Unrouted)}
	for t, rs := range c.state.Resources {
		out.Resources[t] = maps.Clone(rs)
	}
	return out
}

// Wait blocks until cond holds for the state, the stream fails or ctx ends.
func (c *DeltaClient) Wait(ctx context.Context, cond func(DeltaState) bool) error {
	return wait(ctx, &c.mu, &c.changed, &c.err, c.Snapshot, cond, DeltaState.Summary)
}

// WaitAcks blocks until the client has acknowledged n responses of typeURL, the stream
// fails or ctx ends. It copies nothing, for benchmarks that wait on many streams.
func (c *DeltaClient) WaitAcks(ctx context.Context, typeURL string, n int) error {
	acks := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.state.Acks[typeURL]
	}
	return wait(ctx, &c.mu, &c.changed, &c.err, acks, func(got int) bool { return got >= n },
		func(got int) string { return fmt.Sprintf("%d of %d %s responses acknowledged", got, n, typeURL) })
}

// Summary lists the resource names held per type, for failure messages.
func (s DeltaState) Summary() string {
	out := ""
	for _, t := range slices.Sorted(maps.Keys(s.Resources)) {
		out += fmt.Sprintf("%s: %v; ", t, slices.Sorted(maps.Keys(s.Resources[t])))
	}
	return out + fmt.Sprintf("received %v, removed %v, acks %v", s.Received, s.Removed, s.Acks)
}
