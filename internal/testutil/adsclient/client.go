// Package adsclient is an xDS client that speaks state-of-the-world ADS the way Envoy
// does: listeners and clusters by wildcard, then the route configurations its listeners
// name and the endpoints of its EDS clusters; it validates every resource as Envoy
// would (protoc-gen-validate's ValidateAll) and ACKs or NACKs each response. Tests use
// it where an Envoy binary is not available, and benchmarks run thousands of them.
package adsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// State is what the client holds: the resources it accepted, by name.
type State struct {
	Listeners map[string]*listenerv3.Listener
	Routes    map[string]*routev3.RouteConfiguration
	Clusters  map[string]*clusterv3.Cluster
	Endpoints map[string]*endpointv3.ClusterLoadAssignment
	// Secrets are the SDS secrets asked for with Subscribe.
	Secrets map[string]*tlsv3.Secret
	// Versions are the last accepted version per type URL; Nacks the last rejection.
	Versions map[string]string
	Nacks    map[string]string
	// Received counts, per type URL, the resources the server has sent this stream.
	Received map[string]int
	// Unrouted records each moment a held route named a cluster the client did not
	// hold (see unrouted), with the response that left it so.
	Unrouted []string
}

// Client is one ADS stream.
type Client struct {
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	sendMu sync.Mutex

	mu      sync.Mutex
	state   State
	changed chan struct{} // closed and replaced on every accepted or rejected response
	err     error
	// subscribed are the names requested per type (nil: wildcard).
	subscribed map[string][]string
	nonces     map[string]string
}

// Dial opens an ADS stream on conn for node and subscribes like Envoy. The stream
// ends with ctx.
func Dial(ctx context.Context, conn grpc.ClientConnInterface, node *corev3.Node) (*Client, error) {
	return Resume(ctx, conn, node, State{})
}

// Resume opens an ADS stream for a proxy that already holds prev (from a stream to
// another or a restarted control plane), as Envoy reconnects: its first requests carry
// the versions it holds and the route and endpoint names it follows.
func Resume(ctx context.Context, conn grpc.ClientConnInterface, node *corev3.Node, prev State) (*Client, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	c := &Client{
		node: node, stream: stream, changed: make(chan struct{}),
		subscribed: map[string][]string{}, nonces: map[string]string{},
		state: State{
			Listeners: orEmpty(prev.Listeners), Routes: orEmpty(prev.Routes),
			Clusters: orEmpty(prev.Clusters), Endpoints: orEmpty(prev.Endpoints),
			Secrets: map[string]*tlsv3.Secret{}, Versions: orEmpty(prev.Versions), Nacks: map[string]string{},
			Received: map[string]int{},
		},
	}
	reqs := []*discoveryv3.DiscoveryRequest{{TypeUrl: resourcev3.ClusterType}, {TypeUrl: resourcev3.ListenerType}}
	if len(prev.Listeners) > 0 {
		reqs = append(reqs, c.follow(resourcev3.ListenerType))
	}
	if len(prev.Clusters) > 0 {
		reqs = append(reqs, c.follow(resourcev3.ClusterType))
	}
	// Envoy sends its node on the first request only.
	reqs[0].Node = node
	for _, req := range reqs {
		if req == nil {
			continue
		}
		req.VersionInfo = c.state.Versions[req.TypeUrl]
		if err := stream.Send(req); err != nil {
			return nil, err
		}
	}
	go c.run()
	return c, nil
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return maps.Clone(m)
}

// Snapshot returns a copy of the state (the maps are copied; resources are shared and
// must not be modified).
func (c *Client) Snapshot() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return State{
		Listeners: maps.Clone(c.state.Listeners), Routes: maps.Clone(c.state.Routes),
		Clusters: maps.Clone(c.state.Clusters), Endpoints: maps.Clone(c.state.Endpoints),
		Secrets: maps.Clone(c.state.Secrets), Versions: maps.Clone(c.state.Versions), Nacks: maps.Clone(c.state.Nacks),
		Received: maps.Clone(c.state.Received), Unrouted: slices.Clone(c.state.Unrouted),
	}
}

// Subscribe asks for named resources of a type the client does not follow by itself
// (SDS secrets, as an Envoy whose transport sockets name secrets over ADS).
func (c *Client) Subscribe(typeURL string, names []string) error {
	c.mu.Lock()
	c.subscribed[typeURL] = names
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names,
		VersionInfo: c.state.Versions[typeURL], ResponseNonce: c.nonces[typeURL]}
	c.mu.Unlock()
	return c.send(req)
}

// send serialises sends: gRPC streams take one sender at a time, and Subscribe may run
// beside the receiving goroutine's ACKs.
func (c *Client) send(req *discoveryv3.DiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(req)
}

// Err is the error the stream ended with, if it has.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Wait blocks until cond holds for the state, the stream fails or ctx ends.
func (c *Client) Wait(ctx context.Context, cond func(State) bool) error {
	return wait(ctx, &c.mu, &c.changed, &c.err, c.Snapshot, cond, State.Summary)
}

// wait blocks until cond holds for snapshot(), the stream fails (*err, under mu) or ctx
// ends; *changed (under mu) is closed and replaced whenever the state changes.
func wait[S any](ctx context.Context, mu *sync.Mutex, changed *chan struct{}, err *error,
	snapshot func() S, cond func(S) bool, summary func(S) string) error {
	for {
		mu.Lock()
		ch, failed := *changed, *err
		mu.Unlock()
		if cond(snapshot()) {
			return nil
		}
		if failed != nil {
			return failed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w; state: %s", ctx.Err(), summary(snapshot()))
		}
	}
}

// Summary lists the resource names held, for failure messages.
func (s State) Summary() string {
	return fmt.Sprintf("listeners %v, routes %v, clusters %v, endpoints %v, versions %v, nacks %v",
		slices.Sorted(maps.Keys(s.Listeners)), slices.Sorted(maps.Keys(s.Routes)),
		slices.Sorted(maps.Keys(s.Clusters)), slices.Sorted(maps.Keys(s.Endpoints)), s.Versions, s.Nacks)
}

func (c *Client) run() {
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			c.mu.Lock()
			c.err = err
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		if err := c.handle(resp); err != nil {
			if errors.Is(err, io.EOF) {
				continue // the server ended the stream: Recv returns its status
			}
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
	}
}

// handle decodes and validates a response, stores it when every resource is valid
// (ACK) or keeps the old state (NACK with the first problem), then follows the names
// the new listeners and clusters refer to.
func (c *Client) handle(resp *discoveryv3.DiscoveryResponse) error {
	t := resp.GetTypeUrl()
	decoded := map[string]proto.Message{}
	var problem error
	for _, a := range resp.GetResources() {
		m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
		if err == nil {
			if v, ok := m.(interface{ ValidateAll() error }); ok {
				err = v.ValidateAll()
			}
		}
		if err != nil {
			problem = errors.Join(problem, err)
			continue
		}
		decoded[resourceName(m)] = m
	}
	c.mu.Lock()
	c.state.Received[t] += len(resp.GetResources())
	c.nonces[t] = resp.GetNonce()
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: t, ResponseNonce: resp.GetNonce(), ResourceNames: c.subscribed[t]}
	if problem != nil {
		c.state.Nacks[t] = problem.Error()
		ack.VersionInfo = c.state.Versions[t]
		ack.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: problem.Error()}
	} else {
		c.store(t, decoded)
		c.state.Versions[t] = resp.GetVersionInfo()
		if t == resourcev3.RouteType || t == resourcev3.ClusterType {
			// Only the route configurations its listeners name are in use (Envoy drops
			// the others; this client keeps them).
			inUse := map[string]*routev3.RouteConfiguration{}
			for _, n := range c.subscribed[resourcev3.RouteType] {
				if rc := c.state.Routes[n]; rc != nil {
					inUse[n] = rc
				}
			}
			for _, u := range unrouted(inUse, func(n string) bool { return c.state.Clusters[n] != nil }) {
				c.state.Unrouted = append(c.state.Unrouted, fmt.Sprintf("after %s version %s: %s", t, resp.GetVersionInfo(), u))
			}
		}
		ack.VersionInfo = resp.GetVersionInfo()
	}
	follow := c.follow(t)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	if err := c.send(ack); err != nil {
		return err
	}
	if follow != nil {
		return c.send(follow)
	}
	return nil
}

// store replaces a type's resources. Listeners and clusters are sent whole (wildcard);
// routes and endpoints are replaced per name.
func (c *Client) store(t string, decoded map[string]proto.Message) {
	switch t {
	case resourcev3.ListenerType:
		c.state.Listeners = map[string]*listenerv3.Listener{}
		for n, m := range decoded {
			c.state.Listeners[n] = m.(*listenerv3.Listener)
		}
	case resourcev3.ClusterType:
		c.state.Clusters = map[string]*clusterv3.Cluster{}
		for n, m := range decoded {
			c.state.Clusters[n] = m.(*clusterv3.Cluster)
		}
	case resourcev3.RouteType:
		for n, m := range decoded {
			c.state.Routes[n] = m.(*routev3.RouteConfiguration)
		}
	case resourcev3.EndpointType:
		for n, m := range decoded {
			c.state.Endpoints[n] = m.(*endpointv3.ClusterLoadAssignment)
		}
	case resourcev3.SecretType:
		for n, m := range decoded {
			c.state.Secrets[n] = m.(*tlsv3.Secret)
		}
	}
}

// follow returns the request for the routes or endpoints the current listeners or
// clusters name, when that set changed.
func (c *Client) follow(t string) *discoveryv3.DiscoveryRequest {
	var next string
	var names []string
	switch t {
	case resourcev3.ListenerType:
		next, names = resourcev3.RouteType, routeNames(c.state.Listeners)
	case resourcev3.ClusterType:
		next, names = resourcev3.EndpointType, edsNames(c.state.Clusters)
	default:
		return nil
	}
	if slices.Equal(names, c.subscribed[next]) && (c.subscribed[next] != nil || len(names) == 0) {
		return nil // unchanged; an empty first list would mean "everything"
	}
	c.subscribed[next] = names
	return &discoveryv3.DiscoveryRequest{TypeUrl: next, ResourceNames: names,
		VersionInfo: c.state.Versions[next], ResponseNonce: c.nonces[next]}
}

// routeNames are the RDS names of the HTTP connection managers in the listeners.
func routeNames(ls map[string]*listenerv3.Listener) []string {
	set := map[string]bool{}
	for _, l := range ls {
		chains := l.GetFilterChains()
		if l.GetDefaultFilterChain() != nil {
			chains = append(chains, l.GetDefaultFilterChain())
		}
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().UnmarshalTo(&hcm) == nil && hcm.GetRds() != nil {
					set[hcm.GetRds().GetRouteConfigName()] = true
				}
			}
		}
		if api := l.GetApiListener().GetApiListener(); api != nil {
			var hcm hcmv3.HttpConnectionManager
			if api.UnmarshalTo(&hcm) == nil && hcm.GetRds() != nil {
				set[hcm.GetRds().GetRouteConfigName()] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// edsNames are the service names of the EDS clusters.
func edsNames(cs map[string]*clusterv3.Cluster) []string {
	var out []string
	for n, c := range cs {
		if c.GetType() == clusterv3.Cluster_EDS {
			if sn := c.GetEdsClusterConfig().GetServiceName(); sn != "" {
				n = sn
			}
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func resourceName(m proto.Message) string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		return r.GetName()
	case *routev3.RouteConfiguration:
		return r.GetName()
	case *clusterv3.Cluster:
		return r.GetName()
	case *tlsv3.Secret:
		return r.GetName()
	case *endpointv3.ClusterLoadAssignment:
		return r.GetClusterName()
	}
	return ""
}
